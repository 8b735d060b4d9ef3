package deployment

// Test helpers for the external test package (integration and bench
// tests live there, since they import test/framework, which imports the
// server, which imports this package).
var NewDeploymentForTest = newDeployment
var GetConditionForTest = getCondition
