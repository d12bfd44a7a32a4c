//! Authorization: the one place that decides who may do what on which record.
//!
//! Every route has a [`Policy`] in [`policy::ROUTES`]; the [`gate`] middleware looks the matched route
//! up, authenticates the caller the policy names (a shopper's session, a member of staff with their
//! second factor, a partner's key), asks [`decide`] and hands the principal to the handler in the
//! request's extensions. A route missing from the table is refused (403, logged), and a test walks the
//! router to keep the table and the routes the same. Record-level questions — is this order the
//! shopper's own, is this fulfillment the partner's — go through [`decide`] too, and answer 404: a
//! caller is not told that a record it may not see exists. A caller that is known but lacks a
//! permission gets 403.

pub mod policy;

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
pub use policy::Policy;

/// A member of staff's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything: catalog, staff, partners and keys, and every other role's work.
    Admin,
    /// Helps customers: reads orders (every read of personal data is audited), cancels orders, handles
    /// privacy requests.
    Support,
    /// Payments, refunds, captures, webhook records: amounts, order numbers and processor ids, never
    /// an address, e-mail or phone.
    Finance,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Support, Role::Finance];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Support => "support",
            Role::Finance => "finance",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether the role's views may show a customer's personal data (e-mail, name, address, phone).
    pub fn sees_personal_data(self) -> bool {
        matches!(self, Role::Admin | Role::Support)
    }
}

/// What a member of staff may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Their own sign-in: the password, the second factor (every role).
    OwnAccount,
    OrdersSearch,
    /// One order: with personal data for roles that see it, without for the others.
    OrderRead,
    OrderCancel,
    OrderRefund,
    OrderCapture,
    PaymentRead,
    WebhookEventsRead,
    PrivacyRequests,
    StaffManage,
    /// Partners, their keys and routing rules; re-assigning fulfillments.
    PartnersManage,
    /// Fulfillments and where they are (no personal data).
    FulfillmentsRead,
}

/// Which roles hold a permission.
pub fn grants(role: Role, permission: Permission) -> bool {
    use Permission::*;
    match role {
        Role::Admin => true,
        Role::Support => matches!(
            permission,
            OwnAccount | OrdersSearch | OrderRead | OrderCancel | PrivacyRequests | FulfillmentsRead
        ),
        Role::Finance => {
            matches!(permission, OwnAccount | OrderRead | OrderRefund | OrderCapture | PaymentRead | WebhookEventsRead)
        }
    }
}

/// A member of staff, signed in (the gate put them in the request).
#[derive(Debug, Clone)]
pub struct StaffActor {
    pub id: String,
    pub role: Role,
    /// The session's second factor was shown (at login, or by enrolling in this session).
    pub verified: bool,
    pub session_hash: String,
}

/// Who is asking.
pub enum Actor<'a> {
    Shopper { account_id: &'a str },
    Staff(&'a StaffActor),
    Partner { partner_id: &'a str },
}

/// What is asked for.
pub enum Resource<'a> {
    /// An order, with the account it was placed from (if any).
    Order { account_id: Option<&'a str> },
    /// A record one partner's work holds (a fulfillment).
    PartnerRecord { partner_id: &'a str },
}

/// Whether `actor` may `permission` on `resource`: `Ok`, or the denial to answer with.
pub fn decide(
    actor: &Actor<'_>,
    permission: Option<Permission>,
    resource: Option<&Resource<'_>>,
) -> Result<(), ApiError> {
    match actor {
        Actor::Staff(staff) => {
            let Some(permission) = permission else { return Err(ApiError::Forbidden) };
            if permission != Permission::OwnAccount && !staff.verified {
                return Err(ApiError::Denied {
                    code: "second_factor_enrolment_required",
                    detail: "enrol an authenticator (POST /v1/staff/second-factor) or sign in with its code first"
                        .into(),
                });
            }
            if !grants(staff.role, permission) {
                return Err(ApiError::Denied {
                    code: "role_not_permitted",
                    detail: format!("the {} role does not do this", staff.role.as_str()).into(),
                });
            }
            Ok(())
        }
        // A shopper's own records only; someone else's are not there for them (404, not 403).
        Actor::Shopper { account_id } => match resource {
            None => Ok(()),
            Some(Resource::Order { account_id: Some(owner) }) if owner == account_id => Ok(()),
            Some(_) => Err(ApiError::NotFound),
        },
        Actor::Partner { partner_id } => match resource {
            None => Ok(()),
            Some(Resource::PartnerRecord { partner_id: owner }) if owner == partner_id => Ok(()),
            Some(_) => Err(ApiError::NotFound),
        },
    }
}

/// The middleware that enforces [`policy::ROUTES`] (added with `route_layer`: it sees the matched route).
pub async fn gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let route = parts.extensions.get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let Some(policy) = policy::of(parts.method.as_str(), &route) else {
        tracing::error!(route = %route, method = %parts.method, "route has no access policy: refused");
        return ApiError::Forbidden.into_response();
    };
    if let Err(e) = admit(&state, &mut parts, policy).await {
        return e.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

async fn admit(state: &AppState, parts: &mut Parts, policy: Policy) -> Result<(), ApiError> {
    match policy {
        // Anyone; or the holder of a resource's own token or signed link, which the handler checks.
        Policy::Public | Policy::TokenHolder => Ok(()),
        Policy::Shopper => {
            let session = crate::accounts::session::from_parts(parts, state).await?;
            decide(&Actor::Shopper { account_id: &session.account_id }, None, None)?;
            parts.extensions.insert(session);
            Ok(())
        }
        Policy::Staff(permission) => {
            let staff = crate::staff::session::from_parts(parts, state).await?;
            decide(&Actor::Staff(&staff), Some(permission), None)?;
            parts.extensions.insert(staff);
            Ok(())
        }
        Policy::Partner(scope) => {
            let key = crate::partners::http::key_from_parts(parts, state).await?;
            decide(&Actor::Partner { partner_id: &key.partner_id }, None, None)?;
            if let Some(scope) = scope {
                key.require(scope)?;
            }
            parts.extensions.insert(key);
            Ok(())
        }
    }
}

/// The principal the gate admitted, for the handler. Missing (the route's policy names another kind of
/// caller): refused.
fn admitted<T: Clone + Send + Sync + 'static>(parts: &Parts) -> Result<T, ApiError> {
    parts.extensions.get::<T>().cloned().ok_or_else(|| {
        tracing::error!("handler expects a principal its route's policy does not admit");
        ApiError::Forbidden
    })
}

impl<S: Send + Sync> FromRequestParts<S> for StaffActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        admitted(parts)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for crate::accounts::session::AccountSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        admitted(parts)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for crate::partners::http::Partner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        admitted(parts).map(crate::partners::http::Partner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staff(role: Role, verified: bool) -> StaffActor {
        StaffActor { id: "stf_x".into(), role, verified, session_hash: String::new() }
    }

    #[test]
    fn roles_hold_what_their_work_needs() {
        use Permission::*;
        let s = staff(Role::Support, true);
        let f = staff(Role::Finance, true);
        let a = staff(Role::Admin, true);
        assert!(decide(&Actor::Staff(&s), Some(OrdersSearch), None).is_ok());
        assert!(decide(&Actor::Staff(&s), Some(OrderRefund), None).is_err());
        assert!(decide(&Actor::Staff(&f), Some(OrdersSearch), None).is_err(), "the search shows e-mails");
        assert!(decide(&Actor::Staff(&f), Some(OrderRefund), None).is_ok());
        assert!(decide(&Actor::Staff(&f), Some(StaffManage), None).is_err());
        assert!(decide(&Actor::Staff(&a), Some(StaffManage), None).is_ok());
        assert!(!Role::Finance.sees_personal_data());
    }

    #[test]
    fn without_the_second_factor_only_the_own_account_is_open() {
        let a = staff(Role::Admin, false);
        assert!(decide(&Actor::Staff(&a), Some(Permission::OwnAccount), None).is_ok());
        let e = decide(&Actor::Staff(&a), Some(Permission::OrderRead), None).unwrap_err();
        assert_eq!(e.code(), "second_factor_enrolment_required");
    }

    #[test]
    fn someone_elses_record_is_not_found() {
        let mine = Resource::Order { account_id: Some("acct_a") };
        let theirs = Resource::Order { account_id: Some("acct_b") };
        let guest = Resource::Order { account_id: None };
        let me = Actor::Shopper { account_id: "acct_a" };
        assert!(decide(&me, None, Some(&mine)).is_ok());
        assert_eq!(decide(&me, None, Some(&theirs)).unwrap_err().status(), 404);
        assert_eq!(decide(&me, None, Some(&guest)).unwrap_err().status(), 404);
        let p = Actor::Partner { partner_id: "ptn_a" };
        assert_eq!(decide(&p, None, Some(&Resource::PartnerRecord { partner_id: "ptn_b" })).unwrap_err().status(), 404);
    }
}
