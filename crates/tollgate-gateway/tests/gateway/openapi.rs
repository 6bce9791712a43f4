//! `/openapi.json` describes exactly the routes the router serves.

use crate::common;

use axum::body::Body;
use axum::http::{Method, Request};

#[tokio::test]
async fn every_documented_route_is_served_and_the_document_is_served() {
    let test = common::gateway().await;
    for route in tollgate_gateway::ROUTES {
        let path = route
            .path
            .replace("{team_id}", "alpha")
            .replace("{key_id}", "key_aaaaaaaaaaaaaaaa");
        let method = Method::from_bytes(route.method.to_uppercase().as_bytes()).unwrap();
        let answer = test
            .send(
                Request::builder()
                    .method(method)
                    .uri(&path)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_ne!(
            answer.status.as_u16(),
            405,
            "{} {path} is documented but not routed",
            route.method
        );
        assert!(
            !answer.text.contains("no such route"),
            "{} {path} is documented but not routed",
            route.method
        );
    }
    let document = test
        .send(Request::get("/openapi.json").body(Body::empty()).unwrap())
        .await
        .json();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(
        document["paths"].as_object().unwrap().len(),
        tollgate_gateway::ROUTES
            .iter()
            .map(|route| route.path)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );
    assert!(
        document["paths"]["/invoke_model"]["post"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|parameter| parameter["name"] == "team_id")
    );
}
