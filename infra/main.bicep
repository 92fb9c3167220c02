// durable functions for Go on Azure Functions Flex Consumption.
//
// Creates, in a new resource group: a user-assigned managed identity, a storage account that
// only accepts Entra ID (no shared keys) holding the task hub's tables and queues, the host's
// blobs and the deployment package container, a Log Analytics workspace + Application
// Insights (Entra ID ingestion only), a Flex Consumption (FC1) plan, and the function app
// running the custom handler (runtime 'custom'). The identity gets data-plane roles on the
// storage account and may publish telemetry. See infra/README.md.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment: names the resource group and seeds the unique token in every resource name.')
param environmentName string

@minLength(1)
@description('Region for every resource. It must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@minLength(3)
@maxLength(41)
@description('Task hub name (DURABLE_TASK_HUB): 3-41 lower-case letters or digits, starting with a letter. It prefixes the tables and queues of the app.')
param durableTaskHub string = 'durablego'

@description('Object id of a user or service principal that also gets the storage data roles, to inspect the task hub or run the handler standalone against this account. Empty: nobody.')
param principalId string = ''

@allowed([
  512
  2048
  4096
])
@description('Memory of each function app instance, in MB.')
param instanceMemoryMB int = 2048

@minValue(1)
@maxValue(1000)
@description('Upper bound on the number of instances the plan scales out to.')
param maximumInstanceCount int = 100

@description('Optional name overrides; empty means a generated name.')
param resourceGroupName string = ''
param functionAppName string = ''
param appServicePlanName string = ''
param storageAccountName string = ''
param identityName string = ''
param applicationInsightsName string = ''
param logAnalyticsName string = ''

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var appName = !empty(functionAppName) ? functionAppName : '${abbrs.webSitesFunctions}api-${resourceToken}'
// Blob container that Flex Consumption deploys the app package from.
var deploymentStorageContainerName = 'app-package-${take(appName, 32)}-${take(toLower(uniqueString(appName, resourceToken)), 7)}'

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

// The function app's only identity: the host and the handler reach storage with it, Flex
// Consumption pulls the deployment package with it, telemetry is ingested with it.
module identity './core/identity/user-assigned-identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: !empty(identityName) ? identityName : '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage './core/storage/storage-account.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: !empty(storageAccountName) ? storageAccountName : '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    containerNames: [
      deploymentStorageContainerName
    ]
  }
}

module monitoring './core/monitor/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: !empty(logAnalyticsName) ? logAnalyticsName : '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: !empty(applicationInsightsName) ? applicationInsightsName : '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module rbac './app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
  }
}

module plan './core/host/flex-consumption-plan.bicep' = {
  name: 'plan'
  scope: rg
  params: {
    name: !empty(appServicePlanName) ? appServicePlanName : '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
  }
}

module api './app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: appName
    location: location
    tags: tags
    serviceName: 'api'
    appServicePlanId: plan.outputs.id
    storageAccountName: storage.outputs.name
    deploymentStorageContainerName: deploymentStorageContainerName
    identityId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    durableTaskHub: durableTaskHub
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
  }
  // The host opens storage as soon as the app exists: grant the roles first.
  dependsOn: [
    rbac
  ]
}

// azd stores these in .azure/<env>/.env.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output AZURE_FUNCTION_URI string = api.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output DURABLE_TASK_HUB string = durableTaskHub
