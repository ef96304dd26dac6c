// What each role may do, as the control plane's permission table says
// (crates/control/src/permissions.rs). The dashboard only hides what a role
// cannot use; the API refuses it anyway.

const READ = ["ReadAccount", "ReadServers"];
const ROLES = {
  policy_manager: [...READ, "ReadPolicies", "ReadGrants", "ReadApprovals", "ReadAudit", "ReadApprovalArguments",
    "DecideApprovals", "ManageServers", "ManageCatalog", "ManagePolicies"],
  approver: [...READ, "ReadApprovals", "ReadApprovalArguments", "DecideApprovals"],
  viewer: [...READ, "ReadPolicies", "ReadGrants", "ReadApprovals", "ReadAudit"],
  auditor: [...READ, "ReadPolicies", "ReadGrants", "ReadApprovals", "ReadAudit", "ReadApprovalArguments",
    "ReadAuditArguments", "ReadAccountEvents"],
};

export function can(role, permission) {
  if (role === "admin") return true;
  return (ROLES[role] || []).includes(permission);
}
