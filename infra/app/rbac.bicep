// Data-plane roles for the function app's identity (and optionally a developer):
// - on the storage account: Storage Blob Data Owner (host: keys, leases, timers; Flex
//   Consumption: the deployment package), Storage Queue Data Contributor (queue triggers
//   and the handler's task hub queues), Storage Table Data Contributor (the handler's task
//   hub tables);
// - on Application Insights: Monitoring Metrics Publisher, required because the component
//   accepts Entra ID-authenticated telemetry only.
param storageAccountName string
param applicationInsightsName string

@description('Principal id of the function app\'s user-assigned identity.')
param identityPrincipalId string

@description('Optional object id of a user or service principal that gets the same storage roles.')
param userPrincipalId string = ''

var storageRoles = [
  {
    name: 'Storage Blob Data Owner'
    id: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  }
  {
    name: 'Storage Queue Data Contributor'
    id: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  }
  {
    name: 'Storage Table Data Contributor'
    id: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  }
]
var monitoringMetricsPublisherRoleId = '3913510d-42f4-4e42-8a64-420c390055eb'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource identityStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in storageRoles: {
    name: guid(storage.id, identityPrincipalId, role.id)
    scope: storage
    properties: {
      description: '${role.name} for the function app identity'
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.id)
    }
  }
]

// principalType is left out: azd may run as a user or, in CI, as a service principal.
resource userStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in storageRoles: if (!empty(userPrincipalId)) {
    name: guid(storage.id, userPrincipalId, role.id)
    scope: storage
    properties: {
      description: '${role.name} for the deploying principal'
      principalId: userPrincipalId
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.id)
    }
  }
]

resource identityMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, identityPrincipalId, monitoringMetricsPublisherRoleId)
  scope: applicationInsights
  properties: {
    description: 'Monitoring Metrics Publisher for the function app identity'
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisherRoleId)
  }
}
