"""Access control: roles, principals, API tokens, sign-in sessions, proxy sign-on
(docs/api.md, "Access control")."""
