"""API permission classes.

Kept apart from erxseg/api.py because DRF imports the default permission
classes while `rest_framework.views` is still loading.
"""

from rest_framework import permissions


class ModelPermissions(permissions.DjangoModelPermissions):
    """Django's model permissions, with reading guarded by the view permission.

    DRF's own class lets any authenticated user read; erxseg holds customer
    data, so GET, HEAD and OPTIONS need `view_<model>`.
    """

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }
