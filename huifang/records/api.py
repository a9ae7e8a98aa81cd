"""The core-system feed and record reads: ``/api/v1/{kind}/…``.

Writes upsert by business key, one record (``PUT /{kind}/{key}``) or up to 1,000
(``POST /{kind}/batch``), for customers, products, salespeople, policies (applicant and insured
embedded), claims and policy events. Every record is validated by ``validate_row`` — the code the
file import uses — and only a clean record reaches ``RecordsFeed.upsert``, which writes a batch in
one transaction with one audit event. Sending the same record again writes nothing and answers
"unchanged". Writes need the ``import_records`` capability.

Reads (``view_records``) are scoped to the caller's org units, with personal information masked.
"""

from django.utils.translation import gettext as _
from ninja import Query, Status

from huifang.core.api import ErrorOut, Router, error_body, require_cap
from huifang.core.permissions import Cap
from huifang.records import selectors
from huifang.records.api_schemas import (
    BATCH_LIMIT,
    BatchIn,
    BatchOut,
    ClaimBatchIn,
    ClaimIn,
    CustomerBatchIn,
    CustomerIn,
    CustomerOut,
    EventBatchIn,
    EventIn,
    ItemOut,
    PolicyBatchIn,
    PolicyDetailOut,
    PolicyIn,
    PolicyListOut,
    ProductBatchIn,
    ProductIn,
    RecordIn,
    RejectedOut,
    SalespersonBatchIn,
    SalespersonIn,
)
from huifang.records.models import PolicyStatus
from huifang.records.schema import BUSINESS_KEYS, validate_row
from huifang.records.services import CREATED, REJECTED, BatchOutcome, ItemOutcome, RecordsFeed

router = Router(tags=["records"])

PUT_RESPONSES = {200: ItemOut, 201: ItemOut, 401: ErrorOut, 403: ErrorOut, 422: RejectedOut}
BATCH_RESPONSES = {200: BatchOut, 401: ErrorOut, 403: ErrorOut, 413: ErrorOut, 422: ErrorOut}


# ---- writes -------------------------------------------------------------------------------------


def _receive(kind: str, raws: list[dict], *, actor, path_key: str | None = None) -> BatchOutcome:
    """Validate each raw record and upsert the clean ones; answer every record in request order.

    A record that fails validation (or whose key differs from the one in the URL) is rejected here
    and never reaches the upsert, so nothing of it is written.
    """
    key_field = BUSINESS_KEYS[kind]
    outcome = BatchOutcome()
    clean: list[tuple[int, dict]] = []
    for index, raw in enumerate(raws):
        result = validate_row(kind, raw, index)
        key = result.values[key_field] if result.ok else str(raw.get(key_field) or "").strip()
        errors = list(result.errors)
        if path_key is not None and key != path_key and all(col != key_field for col, _r in errors):
            errors.append((key_field, _("does not match the key in the URL (%(key)s)") % {"key": path_key}))
        if errors:
            outcome.items.append(ItemOutcome(index, key, REJECTED, errors))
        else:
            clean.append((index, result.values))
    if clean:
        outcome.items.extend(RecordsFeed(kind, actor=actor, source="api").upsert(clean).items)
    outcome.items.sort(key=lambda item: item.index)
    return outcome


def _item_out(item: ItemOutcome) -> dict:
    return {
        "index": item.index,
        "key": item.key,
        "status": item.status,
        "errors": [{"field": column, "message": reason} for column, reason in item.errors],
    }


def _put(request, kind: str, path_key: str, payload: RecordIn):
    require_cap(request, Cap.IMPORT_RECORDS)
    [item] = _receive(kind, [payload.raw_values()], actor=request.user, path_key=path_key).items
    body = _item_out(item)
    if item.status == REJECTED:
        message = _("The record was rejected; nothing was written.")
        return Status(422, error_body("validation_error", message, body["errors"]) | body)
    return Status(201 if item.status == CREATED else 200, body)


def _batch(request, kind: str, payload: BatchIn):
    require_cap(request, Cap.IMPORT_RECORDS)
    if len(payload.items) > BATCH_LIMIT:
        message = _("A batch holds at most %(limit)d items; this one has %(count)d. Nothing was written.")
        error = {"field": "items", "message": _("at most %(limit)d items") % {"limit": BATCH_LIMIT}}
        body = error_body(
            "batch_too_large", message % {"limit": BATCH_LIMIT, "count": len(payload.items)}, [error]
        )
        return Status(413, body)
    outcome = _receive(kind, [item.raw_values() for item in payload.items], actor=request.user)
    return {"summary": outcome.summary, "items": [_item_out(item) for item in outcome.items]}


_PUT_DOC = (
    "Create or replace one record by its business key (the key in the URL must equal the one in "
    "the body). 201 created, 200 updated or unchanged (sending the same record again writes "
    "nothing), 422 rejected with field-level errors (nothing written)."
)
_BATCH_DOC = (
    f"Upsert up to {BATCH_LIMIT} records. 200 with one result per item, in request order: good "
    "items are written, a rejected item names its index and field and nothing of it is written. "
    "413 batch_too_large for a larger batch (nothing written)."
)

# Batch paths first: "/policies/batch" must not be taken for the policy numbered "batch".


@router.post("/customers/batch", response=BATCH_RESPONSES, summary="Upsert customers", description=_BATCH_DOC)
def customers_batch(request, payload: CustomerBatchIn):
    return _batch(request, "customers", payload)


@router.post("/products/batch", response=BATCH_RESPONSES, summary="Upsert products", description=_BATCH_DOC)
def products_batch(request, payload: ProductBatchIn):
    return _batch(request, "products", payload)


@router.post(
    "/salespeople/batch", response=BATCH_RESPONSES, summary="Upsert salespeople", description=_BATCH_DOC
)
def salespeople_batch(request, payload: SalespersonBatchIn):
    return _batch(request, "salespeople", payload)


@router.post("/policies/batch", response=BATCH_RESPONSES, summary="Upsert policies", description=_BATCH_DOC)
def policies_batch(request, payload: PolicyBatchIn):
    return _batch(request, "policies", payload)


@router.post("/claims/batch", response=BATCH_RESPONSES, summary="Upsert claims", description=_BATCH_DOC)
def claims_batch(request, payload: ClaimBatchIn):
    return _batch(request, "claims", payload)


@router.post(
    "/events/batch", response=BATCH_RESPONSES, summary="Upsert policy events", description=_BATCH_DOC
)
def events_batch(request, payload: EventBatchIn):
    return _batch(request, "events", payload)


@router.put(
    "/customers/{customer_no}", response=PUT_RESPONSES, summary="Upsert a customer", description=_PUT_DOC
)
def customer_put(request, customer_no: str, payload: CustomerIn):
    return _put(request, "customers", customer_no, payload)


@router.put("/products/{code}", response=PUT_RESPONSES, summary="Upsert a product", description=_PUT_DOC)
def product_put(request, code: str, payload: ProductIn):
    return _put(request, "products", code, payload)


@router.put(
    "/salespeople/{code}", response=PUT_RESPONSES, summary="Upsert a salesperson", description=_PUT_DOC
)
def salesperson_put(request, code: str, payload: SalespersonIn):
    return _put(request, "salespeople", code, payload)


@router.put("/policies/{policy_no}", response=PUT_RESPONSES, summary="Upsert a policy", description=_PUT_DOC)
def policy_put(request, policy_no: str, payload: PolicyIn):
    return _put(request, "policies", policy_no, payload)


@router.put("/claims/{claim_no}", response=PUT_RESPONSES, summary="Upsert a claim", description=_PUT_DOC)
def claim_put(request, claim_no: str, payload: ClaimIn):
    return _put(request, "claims", claim_no, payload)


@router.put(
    "/events/{event_no}", response=PUT_RESPONSES, summary="Upsert a policy event", description=_PUT_DOC
)
def event_put(request, event_no: str, payload: EventIn):
    return _put(request, "events", event_no, payload)


# ---- reads --------------------------------------------------------------------------------------

READ_RESPONSES = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut}


@router.get(
    "/policies",
    response={200: PolicyListOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    summary="List policies",
)
def policy_list(
    request,
    policy_no: str | None = None,
    status: PolicyStatus | None = None,
    org_unit: str | None = Query(None, description="org unit code; its whole subtree matches"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=2**31 - 1),
):
    """Policies in the caller's org units (masked), oldest first, ``limit`` from ``offset``."""
    require_cap(request, Cap.VIEW_RECORDS)
    qs = selectors.policy_list(
        request.user, policy_no=policy_no, status=status.value if status else None, org_unit=org_unit
    )
    return {"count": qs.count(), "limit": limit, "offset": offset, "items": list(qs[offset : offset + limit])}


@router.get("/policies/{policy_no}", response={200: PolicyDetailOut, **READ_RESPONSES}, summary="A policy")
def policy_detail(request, policy_no: str):
    """One policy (masked) with its derived facts and the rules behind them; 404 when it is missing
    or outside the caller's org units."""
    require_cap(request, Cap.VIEW_RECORDS)
    return selectors.policy_get(request.user, policy_no)


@router.get("/customers/{customer_no}", response={200: CustomerOut, **READ_RESPONSES}, summary="A customer")
def customer_detail(request, customer_no: str):
    """One customer (masked); 404 when missing or outside the caller's org units."""
    require_cap(request, Cap.VIEW_RECORDS)
    return selectors.customer_get(request.user, customer_no)
