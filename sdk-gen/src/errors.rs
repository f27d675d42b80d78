//! The error classes every SDK has: one per status, one per dialect error code (from the
//! naming config), each refining the class of its status.

use std::collections::BTreeMap;

use crate::config::DialectConfig;

pub struct ErrorClass {
    pub name: String,
    pub parent: String,
    pub doc: String,
    pub code: String,
    pub attributes: BTreeMap<String, String>,
}

pub struct StatusClass {
    pub name: &'static str,
    pub parent: &'static str,
    pub status: u16,
    pub doc: &'static str,
}

const STATUS_CLASSES: &[StatusClass] = &[
    StatusClass {
        name: "BadRequestError",
        parent: "APIStatusError",
        status: 400,
        doc: "400: the request is malformed or a field is invalid.",
    },
    StatusClass {
        name: "AuthenticationError",
        parent: "APIStatusError",
        status: 401,
        doc: "401: the credential is missing, invalid or expired.",
    },
    StatusClass {
        name: "PermissionDeniedError",
        parent: "APIStatusError",
        status: 403,
        doc: "403: the credential may not do this.",
    },
    StatusClass {
        name: "NotFoundError",
        parent: "APIStatusError",
        status: 404,
        doc: "404: no such object (or not yours).",
    },
    StatusClass {
        name: "RequestTimeoutError",
        parent: "APIStatusError",
        status: 408,
        doc: "408: the server timed the request out.",
    },
    StatusClass {
        name: "ConflictError",
        parent: "APIStatusError",
        status: 409,
        doc: "409: the request conflicts with the object's state.",
    },
    StatusClass {
        name: "PayloadTooLargeError",
        parent: "APIStatusError",
        status: 413,
        doc: "413: the body is larger than the server accepts.",
    },
    StatusClass {
        name: "UnprocessableEntityError",
        parent: "APIStatusError",
        status: 422,
        doc: "422: the request is well-formed but cannot be processed.",
    },
    StatusClass {
        name: "RateLimitError",
        parent: "APIStatusError",
        status: 429,
        doc: "429: rate limited; `retry_after` says how long to wait.",
    },
    StatusClass {
        name: "InternalServerError",
        parent: "APIStatusError",
        status: 500,
        doc: "5xx: the server failed.",
    },
    StatusClass {
        name: "ServiceUnavailableError",
        parent: "InternalServerError",
        status: 503,
        doc: "503: the service is unavailable or the feature is switched off.",
    },
    StatusClass {
        name: "GatewayTimeoutError",
        parent: "InternalServerError",
        status: 504,
        doc: "504: a part of the server did not answer in time.",
    },
];

pub fn status_classes() -> &'static [StatusClass] {
    STATUS_CLASSES
}

pub fn status_class_name(status: u16) -> &'static str {
    STATUS_CLASSES
        .iter()
        .find(|c| c.status == status)
        .map(|c| c.name)
        .unwrap_or(if status >= 500 {
            "InternalServerError"
        } else {
            "APIStatusError"
        })
}

pub fn code_classes(config: &DialectConfig) -> Vec<ErrorClass> {
    config
        .errors
        .codes
        .iter()
        .map(|(code, c)| ErrorClass {
            name: c.class.clone(),
            parent: status_class_name(c.status).to_string(),
            doc: c.doc.clone(),
            code: code.clone(),
            attributes: c.attributes.clone(),
        })
        .collect()
}
