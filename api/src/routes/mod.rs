//! The HTTP surface: every REST route is registered here, once, through `utoipa_axum`, so the router
//! and the OpenAPI document are built from the same list and cannot drift apart.

pub mod message_routes;
pub mod session_routes;
pub mod system_routes;

use axum::{Json, Router, extract::DefaultBodyLimit, http::StatusCode, middleware, routing::get};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::{router::OpenApiRouter, routes};
use wa_shared::errors::ErrorCode;

use crate::{error::ApiError, state::AppState};

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 256 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "WhatsApp gateway API", description = "Link WhatsApp accounts by QR and send and receive messages."),
    modifiers(&BearerAuth),
    tags((name = "sessions"), (name = "messages"), (name = "system"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The REST routes with their OpenAPI document (without `/openapi.json` itself and `/ws`).
pub fn documented_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(session_routes::connect))
        .routes(routes!(session_routes::reconnect))
        .routes(routes!(session_routes::disconnect))
        .routes(routes!(session_routes::session_status))
        .routes(routes!(session_routes::list_sessions))
        .routes(routes!(session_routes::delete_session))
        .routes(routes!(message_routes::send_message))
        .routes(routes!(message_routes::get_message))
        .routes(routes!(system_routes::health))
        .routes(routes!(system_routes::ready))
        .routes(routes!(system_routes::metrics))
        .split_for_parts()
}

/// The OpenAPI document, including `/openapi.json` and the WebSocket endpoint.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = documented_routes();
    use utoipa::openapi::{HttpMethod, path::OperationBuilder, response::ResponseBuilder};
    let op = |summary: &str, tag: &str| {
        OperationBuilder::new()
            .summary(Some(summary))
            .tag(tag)
            .response("200", ResponseBuilder::new().description(summary).build())
            .build()
    };
    doc.paths.add_path_operation(
        "/openapi.json",
        vec![HttpMethod::Get],
        op("This OpenAPI document", "system"),
    );
    doc.paths.add_path_operation(
        "/ws",
        vec![HttpMethod::Get],
        op(
            "WebSocket upgrade for real-time events (also on WS_PORT at /)",
            "events",
        ),
    );
    doc
}

/// The main router (REST + `/ws`) with limits, metrics and JSON fallbacks.
pub fn router(state: AppState) -> Router {
    let doc = openapi();
    let (rest, _) = documented_routes();
    rest.route("/openapi.json", get(move || async move { Json(doc) }))
        .route("/ws", get(crate::ws::upgrade))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// The router of the separate WebSocket port: the upgrade at `/`.
pub fn ws_router(state: AppState) -> Router {
    Router::new()
        .route("/", get(crate::ws::upgrade))
        .route("/ws", get(crate::ws::upgrade))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::RouteNotFound,
        "No such route; see /openapi.json.",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "This route does not accept that method; see /openapi.json.",
    )
}
