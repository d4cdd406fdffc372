# -*- test-case-name: fxim.test.test_e2e_admin -*-
"""
Wiring the admin API and the retention policy into a node.
"""

from typing import Any, Callable, List, Optional

from fxim.admin.resource import AdminApi
from fxim.admin.retention import RetentionPolicy
from fxim.admin.service import AdminService


def installAdmin(server: Any, adminStore: Any, site: Any, secret: Optional[str], config: Any,
                 reactor: Any, closers: List[Callable]) -> AdminService:
    """
    Put C{/admin/} and C{/imopenapi/} on C{site} (refused with 403 without
    a secret) and start the retention purge if C{--retention-days} is set.
    """
    from fxim.transport.http import AdminDisabledResource
    service = AdminService(server, adminStore)
    server.admin = service
    root = site.resource
    if secret:
        origins = tuple(getattr(config, "adminCorsOrigins", ()))
        root.putChild(b"admin", AdminApi(service, secret, "admin", origins))
        root.putChild(b"imopenapi", AdminApi(service, secret, "imopenapi", origins))
    else:
        root.putChild(b"imopenapi", AdminDisabledResource())
    days = getattr(config, "retentionDays", 0)
    service.retention = None
    if days:
        retention = RetentionPolicy(reactor, service, days, config.retentionInterval)
        retention.start()
        service.retention = retention
        closers.append(retention.stop)
    return service
