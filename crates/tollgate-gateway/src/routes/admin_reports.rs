//! The admin API's reports and prices: the Costs screen's view (`/admin/v1/costs`, the same
//! numbers the console computes in process, from `tollgate-reports`) and its exports, the price
//! list and adding a price, recomputing past costs as a job, and the models offered.

use axum::Json;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use bytes::Bytes;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_core::AdminRole;
use tollgate_reports::{CostScope, CostView, PriceForm, RangePreset, ReportError};

use super::admin::{AdminResult, team};
use super::admin_auth::Caller;
use super::body::json_object;
use crate::ModelKind;
use crate::error::ApiError;
use crate::state::Gateway;

fn report_error(error: ReportError) -> ApiError {
    match error {
        ReportError::Invalid(message) => ApiError::bad_request(message),
        ReportError::Store(error) => super::admin::store_error(error),
    }
}

fn query_error(rejection: &QueryRejection) -> ApiError {
    ApiError::bad_request(rejection.body_text())
}

/// The cost center a viewer may read: the one it names, or its only one. Everyone else reads
/// what they ask for.
pub(super) fn visible_cost_center(
    caller: &Caller,
    asked: Option<String>,
    what: &str,
) -> Result<Option<String>, ApiError> {
    match (caller.cost_centers(), asked) {
        (None, asked) => Ok(asked),
        (Some(mine), Some(asked)) if mine.contains(&asked) => Ok(Some(asked)),
        (Some(_), Some(asked)) => {
            Err(caller.refuse(&format!("read the {what} of cost center '{asked}'")))
        }
        (Some([only]), None) => Ok(Some(only.clone())),
        (Some(mine), None) => Err(ApiError::bad_request(format!(
            "name one of this token's cost centers: cost_center={}",
            mine.join(" or cost_center=")
        ))),
    }
}

/// The Costs screen's parameters, as the console's `CostScope` and `RangePreset`.
#[derive(Debug, Deserialize)]
pub struct CostParams {
    /// `this_month` (the default), `last_month`, `last_30_days`, `last_90_days` or `custom`.
    preset: Option<String>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    cost_center: Option<String>,
    team_id: Option<String>,
    model_id: Option<String>,
    #[serde(default)]
    by_cost_center: bool,
    #[serde(default)]
    by_label: bool,
    /// Exports only: `csv` (the default) or `json`.
    format: Option<String>,
}

fn preset(params: &CostParams) -> Result<RangePreset, ApiError> {
    let custom = || match (params.from, params.to) {
        (Some(from), Some(to)) => Ok(RangePreset::Custom { from, to }),
        _ => Err(ApiError::bad_request(
            "a custom range needs both 'from' and 'to' (YYYY-MM-DD)",
        )),
    };
    match params.preset.as_deref() {
        None if params.from.is_some() || params.to.is_some() => custom(),
        None | Some("this_month") => Ok(RangePreset::ThisMonth),
        Some("last_month") => Ok(RangePreset::LastMonth),
        Some("last_30_days") => Ok(RangePreset::Last30Days),
        Some("last_90_days") => Ok(RangePreset::Last90Days),
        Some("custom") => custom(),
        Some(other) => Err(ApiError::bad_request(format!(
            "'preset' is one of this_month, last_month, last_30_days, last_90_days, custom — not '{other}'"
        ))),
    }
}

/// The view the parameters ask for, as far as the caller may see it: a viewer's is always
/// within its cost centers, a tenant's only if the tenant is in one of them.
async fn view_for(
    gateway: &Gateway,
    caller: &Caller,
    params: &CostParams,
) -> Result<CostView, ApiError> {
    if caller.role() == AdminRole::Tester {
        return Err(caller.refuse("read costs"));
    }
    let preset = preset(params)?;
    let mut scope = CostScope {
        cost_center: visible_cost_center(caller, params.cost_center.clone(), "costs")?,
        team_id: params.team_id.clone(),
        model_id: params.model_id.clone(),
        by_cost_center: params.by_cost_center,
        by_label: params.by_label,
    };
    if let Some(team_id) = &scope.team_id {
        let team_id = team(team_id)?;
        let tenant = super::admin::stored(gateway, |store| store.tenant(&team_id))?;
        if !caller.sees(&tenant.cost_center) {
            return Err(caller.refuse(&format!(
                "read the costs of tenant '{team_id}' of cost center '{}'",
                tenant.cost_center
            )));
        }
        // The tenant's own rows, whichever cost center was named alongside.
        if caller.cost_centers().is_some() {
            scope.cost_center = Some(tenant.cost_center.clone());
        }
    }
    let today = gateway.inner.zone.local_date(tollgate_store::now_ms());
    // A year over a long ledger takes a while: off the serving thread.
    let reporting = gateway.clone();
    tokio::task::spawn_blocking(move || {
        reporting.with_store(|store| tollgate_reports::cost_view(store, preset, &scope, today))
    })
    .await
    .map_err(|error| ApiError::internal(format!("the cost view failed: {error}")))?
    .map_err(report_error)
}

/// `GET /admin/v1/costs`: the Costs screen's numbers — totals, daily cost by model, the
/// cumulative line against the budget with its forecast, the top tenants and models, the table.
pub async fn costs(
    State(gateway): State<Gateway>,
    caller: Caller,
    params: Result<Query<CostParams>, QueryRejection>,
) -> AdminResult {
    let Query(params) = params.map_err(|rejection| query_error(&rejection))?;
    Ok(Json(view_for(&gateway, &caller, &params).await?).into_response())
}

/// `GET /admin/v1/costs/export?format=csv|json`: the view as a file, named as the console names
/// its exports: CSV the table's rows and their total, JSON the whole view.
pub async fn export_costs(
    State(gateway): State<Gateway>,
    caller: Caller,
    params: Result<Query<CostParams>, QueryRejection>,
) -> AdminResult {
    let Query(params) = params.map_err(|rejection| query_error(&rejection))?;
    let format = params.format.clone().unwrap_or_else(|| "csv".to_owned());
    if format != "csv" && format != "json" {
        return Err(
            ApiError::bad_request(format!("'format' is csv or json, not '{format}'")).into(),
        );
    }
    let view = view_for(&gateway, &caller, &params).await?;
    let name = format!("{}.{format}", tollgate_reports::export_stem(&view));
    let (content_type, body) = if format == "csv" {
        ("text/csv; charset=utf-8", tollgate_reports::rows_csv(&view))
    } else {
        (
            "application/json",
            serde_json::to_string_pretty(&view)
                .map_err(|error| ApiError::internal(error.to_string()))?,
        )
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct PriceParams {
    #[serde(default)]
    search: String,
}

/// `GET /admin/v1/prices?search=`: every version of every price, newest first per model, as the
/// console's Settings table shows them (USD per 1,000 tokens as exact decimals).
pub async fn list_prices(
    State(gateway): State<Gateway>,
    caller: Caller,
    params: Result<Query<PriceParams>, QueryRejection>,
) -> AdminResult {
    if caller.role() == AdminRole::Tester {
        return Err(caller.refuse("read prices").into());
    }
    let Query(params) = params.map_err(|rejection| query_error(&rejection))?;
    let rows = gateway
        .with_store(|store| tollgate_reports::prices(store, &params.search))
        .map_err(report_error)?;
    Ok(Json(rows).into_response())
}

/// `POST /admin/v1/prices` `{"model_id", "region"?, "effective_from", "input_per_1k",
/// "output_per_1k"}`: a new version of a text model's price, in force from its date (nothing is
/// overwritten); calls are priced with it at once. Admins only.
pub async fn add_price(
    State(gateway): State<Gateway>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> AdminResult {
    caller.must_be_admin("change prices")?;
    let body = json_object(body)?;
    let form: PriceForm = serde_json::from_value(Value::Object(body))
        .map_err(|error| ApiError::bad_request(format!("the price: {error}")))?;
    gateway
        .with_store(|store| tollgate_reports::save_price(store, &form, &caller.actor()))
        .map_err(report_error)?;
    gateway.reload_prices().map_err(super::admin::store_error)?;
    Ok((StatusCode::CREATED, Json(json!({ "saved": form }))).into_response())
}

/// `POST /admin/v1/recompute` `{"from", "to"}`: prices the ledger's days again with the book in
/// force now, as a job (202, then `GET /admin/v1/recompute/{id}` for its progress and result,
/// `DELETE` to stop it after the week it is on). One at a time: 409 names the running one.
pub async fn start_recompute(
    State(gateway): State<Gateway>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> AdminResult {
    caller.must_be_admin("recompute costs")?;
    let body = json_object(body)?;
    let day = |field: &str| -> Result<NaiveDate, ApiError> {
        let text = super::admin::text_field(&body, field)?
            .ok_or_else(|| ApiError::bad_request(format!("'{field}' is missing (YYYY-MM-DD)")))?;
        tollgate_core::period::parse_date(&text)
            .map_err(|error| ApiError::bad_request(format!("'{field}': {error}")))
    };
    let (from, to) = (day("from")?, day("to")?);
    if from > to {
        return Err(ApiError::bad_request(format!(
            "recompute: the range starts ({from}) after it ends ({to})"
        ))
        .into());
    }
    let id = gateway
        .inner
        .recompute_jobs
        .start(from, to, caller.actor())
        .map_err(|running| {
            ApiError::new(
                StatusCode::CONFLICT,
                "recompute_running",
                format!(
                    "recompute {} ({} to {}, started by {}) is still running: wait for it or cancel it",
                    running.id, running.from, running.to, running.started_by
                ),
            )
        })?;
    let worker = gateway.clone();
    tokio::task::spawn_blocking(move || {
        worker.inner.recompute_jobs.run(id, |first, last| {
            Ok(worker.with_store(|store| store.recompute_costs(first, last))?)
        });
        // Budgets counted so far this month come from the ledger again.
        if let Err(error) = worker.reload_auth() {
            tracing::warn!(%error, "reloading limits after a recompute failed");
        }
    });
    let view = gateway.inner.recompute_jobs.view(id);
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

fn job_id(id: &str) -> Result<u64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request(format!("'{id}' is not a recompute job id")))
}

fn no_job(id: u64) -> ApiError {
    ApiError::not_found(format!(
        "no recompute job {id} on this server (jobs are kept until the server restarts)"
    ))
}

/// `GET /admin/v1/recompute/{id}`: the job's state, progress and result.
pub async fn recompute_status(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(id): Path<String>,
) -> AdminResult {
    caller.must_be_admin("recompute costs")?;
    let id = job_id(&id)?;
    let view = gateway
        .inner
        .recompute_jobs
        .view(id)
        .ok_or_else(|| no_job(id))?;
    Ok(Json(view).into_response())
}

/// `DELETE /admin/v1/recompute/{id}`: stops the job after the week it is on; weeks done stay done.
pub async fn cancel_recompute(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(id): Path<String>,
) -> AdminResult {
    caller.must_be_admin("recompute costs")?;
    let id = job_id(&id)?;
    let view = gateway
        .inner
        .recompute_jobs
        .cancel(id)
        .ok_or_else(|| no_job(id))?;
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct ModelParams {
    team_id: Option<String>,
}

/// `GET /admin/v1/models?team_id=`: the models this server offers (with `team_id`: those the
/// tenant may call — what its playground offers), with their provider and kind.
pub async fn models(
    State(gateway): State<Gateway>,
    caller: Caller,
    params: Result<Query<ModelParams>, QueryRejection>,
) -> AdminResult {
    let Query(params) = params.map_err(|rejection| query_error(&rejection))?;
    let allowed = match &params.team_id {
        None => None,
        Some(team_id) => {
            let team_id = team(team_id)?;
            let tenant = super::admin::stored(&gateway, |store| store.tenant(&team_id))?;
            if !(caller.tests_as(&team_id) || caller.sees(&tenant.cost_center)) {
                return Err(caller
                    .refuse(&format!("see the models of tenant '{team_id}'"))
                    .into());
            }
            Some(tenant.allowed_models)
        }
    };
    let models: Vec<Value> = gateway
        .models()
        .filter(|model| {
            allowed
                .as_ref()
                .is_none_or(|allowed| allowed.permits(&model.config.id))
        })
        .map(|model| {
            json!({
                "id": model.config.id,
                "provider": model.config.provider().display_name(),
                "kind": match model.config.kind {
                    ModelKind::Chat => "chat",
                    ModelKind::Embedding => "embedding",
                    ModelKind::Image => "image",
                },
            })
        })
        .collect();
    Ok(Json(models).into_response())
}
