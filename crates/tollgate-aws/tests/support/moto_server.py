"""moto's server, with its API Gateway usage-plan patches fixed to keep AWS's types.

moto 5 stores a patched `/quota/limit` and `/quota/offset` as strings and parses a patched
`/throttle/rateLimit` with int() (so 0.5 requests/s fails). Real API Gateway answers integers and
doubles; strict clients (the AWS SDK for Rust) cannot read moto's strings back. Everything else is
moto as installed.
"""

import moto.apigateway.models as models

_apply = models.UsagePlan.apply_patch_operations


def _apply_keeping_types(self, patch_operations):
    rates = [
        float(op["value"])
        for op in patch_operations
        if op.get("op") in ("add", "replace") and op.get("path") == "/throttle/rateLimit"
    ]
    others = [
        op
        for op in patch_operations
        if not (op.get("op") in ("add", "replace") and op.get("path") == "/throttle/rateLimit")
    ]
    _apply(self, others)
    for rate in rates:
        self.throttle["rateLimit"] = rate
    for field in ("limit", "offset"):
        if isinstance(self.quota.get(field), str):
            self.quota[field] = int(self.quota[field])


models.UsagePlan.apply_patch_operations = _apply_keeping_types

if __name__ == "__main__":
    from moto.server import main

    main()
