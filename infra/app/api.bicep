// The function app: Flex Consumption, runtime 'custom' (the Functions host starts
// bin/handler, host.json customHandler), user-assigned identity for everything.
param name string
param location string = resourceGroup().location
param tags object = {}

@description('azd service name (azure.yaml services.<name>); azd finds the app by this tag.')
param serviceName string = 'api'

param appServicePlanId string
param storageAccountName string
param deploymentStorageContainerName string

@description('Resource id of the user-assigned identity.')
param identityId string

@description('Client id of the user-assigned identity.')
param identityClientId string

param applicationInsightsName string

@minLength(3)
@maxLength(41)
param durableTaskHub string

param instanceMemoryMB int = 2048
param maximumInstanceCount int = 100

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: appServicePlanId
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentStorageContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      // On Flex Consumption the language lives here, not in an app setting: the platform
      // rejects the worker-runtime and extension-version app settings.
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }

  // Every app setting of the app, and only these: handler/deploytest checks this block
  // against the settings the handler and the host read. Keep it a literal object.
  resource appSettings 'config' = {
    name: 'appsettings'
    properties: {
      // AzureWebJobsStorage as an identity-based connection (the account takes no keys).
      // Read by the host (queue triggers, keys, leases, timers) and by the handler
      // (handler/storage/settings.go ResolveConnection) for the task hub tables and queues.
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
      AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
      AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
      // Task hub name: the handler's tables and queues, and %DURABLE_TASK_HUB% in the
      // function.json queue names.
      DURABLE_TASK_HUB: durableTaskHub
      // Telemetry, sent by the host with the identity's Entra ID token.
      APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    }
  }
}

output name string = functionApp.name
output uri string = 'https://${functionApp.properties.defaultHostName}'
