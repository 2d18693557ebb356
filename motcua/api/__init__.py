"""The service: one HTTP API for citizens, officers, analysts and auditors (issue 13).

`motcua.api.app:create_app` builds it; routers are split by audience under `routers/`,
and who may call what is declared per endpoint with the dependencies in `deps.py`.
"""
