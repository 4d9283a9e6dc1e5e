-- Argo CD resource health check for social.connections.dev/SocialConnection.
--
-- Install it in argocd-cm as resource.customizations.health.social.connections.dev_SocialConnection
-- (docs/gitops.md shows the whole ConfigMap entry). Argo CD runs it with the live object in
-- `obj` and reads `status` and `message` from the table it returns. Plain Lua 5.1 (Argo CD's
-- interpreter); tests/chart.rs runs it against sample statuses.
--
--   Healthy      Ready=True (ExpiringSoon alone stays Healthy; the message says when)
--   Degraded     a person must act: Stalled=True (Revoked, RoleLost, Expired, SecretNotFound,
--                ScopesMissing, SecretAccessDenied, ...); statuses written before Stalled existed:
--                Ready=False, or Ready=Unknown after checks began
--   Progressing  before the first check, while the operator has not seen the latest spec, or
--                while it retries after transient answers (Reconciling=True)
--
-- This agrees with kstatus (Flux): Healthy = Current, Degraded = Failed, Progressing =
-- InProgress; tests/e2e/kstatus.rs checks both on the statuses the operator writes.
--   Suspended    spec.suspend is true (status keeps its last values)

local function condition(conditions, type)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function describe(c)
  local text = c.reason or ""
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end

local hs = {}

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Checks are suspended (spec.suspend)"
  return hs
end

local status = obj.status
if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator's first check"
  return hs
end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to check generation " .. tostring(generation)
  return hs
end

local ready = condition(status.conditions, "Ready")
if ready == nil or (ready.status == "Unknown" and ready.reason == "Pending") then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator's first check"
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  local expiring = condition(status.conditions, "ExpiringSoon")
  if expiring ~= nil and expiring.status == "True" then
    hs.message = "Ready; expiring soon (" .. describe(expiring) .. ")"
  else
    hs.message = "Ready"
  end
  return hs
end

-- Waiting for a provider's answer (first check failed, or three transient answers in a row):
-- the operator retries by itself.
local reconciling = condition(status.conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = "Retrying: " .. describe(reconciling)
  return hs
end

-- Not ready: name the blocker in the operator's order (Revoked, Valid, RoleLost, ScopesMissing).
hs.status = "Degraded"
local blocker = nil
for _, t in ipairs({ "Revoked", "RoleLost", "ScopesMissing" }) do
  local c = condition(status.conditions, t)
  if c ~= nil and c.status == "True" then
    blocker = t .. " (" .. describe(c) .. ")"
    break
  end
end
if blocker == nil then
  blocker = "Ready=" .. tostring(ready.status) .. " (" .. describe(ready) .. ")"
end
hs.message = blocker
if status.reauthorizationURL ~= nil and status.reauthorizationURL ~= "" then
  hs.message = hs.message .. "; reconnect at " .. status.reauthorizationURL
end
return hs
