"""
The admin API: what an operator runs a service with (users, sessions,
groups, system messages, recall, purge, retention, audit log).

L{fxim.admin.service.AdminService} holds the operations, independent of
HTTP; L{fxim.admin.resource} exposes them under C{/admin/} (and upstream's
C{/imopenapi/pushNotificationByMobile}); L{fxim.admin.retention} runs the
background retention purge.  See docs/admin-api.md.
"""
