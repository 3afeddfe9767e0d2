//! The OpenAPI 3.1 description of the API, generated from the handlers' annotations and
//! types (utoipa): what `GET /v1/openapi.json` serves.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api;
use crate::error::{LineProblem, Problem};
use crate::tokens::Scope;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rapport",
        description = "The HTTP API of `rapport serve`: record customer interactions, read the customer-360 view, tickets and CX metrics. Errors are RFC 9457 problem documents (application/problem+json). Every /v1 route but this document needs a bearer token of the scope shown (read < write < admin) when the server has a tokens file.",
    ),
    paths(
        api::healthz,
        api::readyz,
        api::openapi,
        api::customer,
        api::timeline,
        api::list_customers,
        api::split,
        api::erase,
        api::ticket,
        api::list_tickets,
        api::metrics,
        api::clv,
        api::post_events,
        api::post_command,
        crate::feed::feed,
        crate::webhooks::chatwoot,
        crate::webhooks::zendesk,
    ),
    components(schemas(Problem, LineProblem, Scope)),
    modifiers(&BearerAuth, &CommonProblems),
    tags(
        (name = "health", description = "liveness, readiness and this document"),
        (name = "customers", description = "the customer-360 view"),
        (name = "tickets", description = "tickets and commands to them"),
        (name = "metrics", description = "CX metrics and customer lifetime value"),
        (name = "events", description = "recording inputs"),
    )
)]
struct ApiDoc;

/// Declares the `bearer` security scheme the operations name.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("a token of the server's tokens file (`rapport token add`)"))
                    .build(),
            ),
        );
    }
}

/// Declares the problems every secured operation may answer (401, 403, 429) and those of
/// every operation with a body (413, 415), so each handler's annotation lists only its own.
struct CommonProblems;

impl Modify for CommonProblems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    responses.insert("401".into(), problem("no token, or one not in the tokens file").into());
                    responses.insert("403".into(), problem("the token's scope is too low").into());
                    responses
                        .insert("429".into(), problem("the token is over its rate limit (see Retry-After)").into());
                }
                if operation.request_body.is_some() {
                    responses.insert("413".into(), problem("the body is over the size or line limit").into());
                    responses.insert("415".into(), problem("the body is not of a media type the route takes").into());
                }
            }
        }
    }
}

/// The OpenAPI document, as JSON text.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()))
}
