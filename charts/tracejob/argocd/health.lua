-- Argo CD health check for TraceJob (tracejob.io/v1alpha1). Add it to argocd-cm as
-- resource.customizations.health.tracejob.io_TraceJob (see the chart README).
--   Progressing: not yet seen by the operator, or waiting for pods or agents.
--   Healthy:     tracing, or finished with every node's results.
--   Degraded:    Failed, storage failing, nodes lost, or some target nodes not tracing.
local hs = {}
local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the tracejob operator"
  return hs
end
if status.observedGeneration ~= nil and obj.metadata.generation ~= nil
    and status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "the operator has not acted on the latest spec yet"
  return hs
end
local function true_condition(type, reason)
  for _, c in ipairs(status.conditions or {}) do
    if c.type == type and (reason == nil and c.status == "True" or c.reason == reason) then
      return c
    end
  end
  return nil
end
local phase = status.phase
local storage = true_condition("ArtifactsWritten", "StorageUnavailable")
local lost = true_condition("NodeLost")
local degraded = true_condition("Degraded")
if phase == "Failed" then
  local complete = nil
  for _, c in ipairs(status.conditions or {}) do
    if c.type == "Complete" then complete = c end
  end
  hs.status = "Degraded"
  hs.message = (complete and complete.message) or status.message or "the TraceJob failed"
elseif storage ~= nil then
  hs.status = "Degraded"
  hs.message = storage.message
elseif lost ~= nil then
  hs.status = "Degraded"
  hs.message = lost.message
elseif degraded ~= nil then
  hs.status = "Degraded"
  hs.message = degraded.message
elseif phase == "Pending" then
  hs.status = "Progressing"
  hs.message = status.message or "waiting for pods and agents"
elseif phase == "Running" or phase == "Succeeded" then
  hs.status = "Healthy"
  local gap = true_condition("Gap")
  hs.message = (gap and gap.message) or status.message or phase
else
  hs.status = "Unknown"
  hs.message = "unknown phase " .. tostring(phase)
end
return hs
