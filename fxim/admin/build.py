# -*- test-case-name: fxim.test.e2e.test_admin -*-
"""
Wiring the admin API and the retention policy into a node.
"""

from typing import Any, Optional

from fxim.admin.resource import AdminApi
from fxim.admin.service import AdminService


def installAdmin(node: Any, adminStore: Any, site: Any, secret: Optional[str],
                 config: Any) -> AdminService:
    """
    Put C{/admin/} and C{/imopenapi/} on C{site} (refused with 403 without
    a secret).  With C{--retention-days}, the service has a retention
    policy (L{AdminService.retention}) for the node to start.

    @param node: the L{fxim.node.Node} the admin API acts on.
    """
    from fxim.transport.http import AdminDisabledResource
    service = AdminService(node, adminStore, clock=node.reactor,
                           retentionDays=getattr(config, "retentionDays", 0),
                           retentionInterval=getattr(config, "retentionInterval", 3600.0))
    root = site.resource
    if secret:
        origins = tuple(getattr(config, "adminCorsOrigins", ()))
        root.putChild(b"admin", AdminApi(service, secret, "admin", origins))
        root.putChild(b"imopenapi", AdminApi(service, secret, "imopenapi", origins))
    else:
        root.putChild(b"imopenapi", AdminDisabledResource())
    return service
