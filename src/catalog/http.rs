//! Catalog handlers and response DTOs (built field by field).

use super::model::{Product, ProductId, VariantRow};
use super::store;
use crate::error::{ApiError, Problem};
use crate::http::extract::ApiQuery;
use crate::http::pagination::{Page, PageParams};
use crate::kernel::money::Money;
use crate::kernel::time::UtcTime;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductDto {
    /// `prod_…`
    pub id: String,
    pub handle: String,
    pub title: String,
    pub description: String,
    pub variants: Vec<VariantDto>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UtcTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VariantDto {
    /// `var_…`
    pub id: String,
    pub sku: String,
    pub title: String,
    pub price: Money,
    /// Units available to sell now.
    pub stock_on_hand: i32,
    pub weight_grams: i32,
    /// False for digital goods: no shipping address is collected for them.
    pub requires_shipping: bool,
}

impl VariantDto {
    fn from_row(v: VariantRow) -> Result<Self, ApiError> {
        Ok(VariantDto {
            price: v.price()?,
            id: v.id,
            sku: v.sku,
            title: v.title,
            stock_on_hand: v.stock_on_hand,
            weight_grams: v.weight_grams,
            requires_shipping: v.requires_shipping,
        })
    }
}

impl ProductDto {
    fn from_domain(p: Product) -> Result<Self, ApiError> {
        Ok(ProductDto {
            id: p.row.id,
            handle: p.row.handle,
            title: p.row.title,
            description: p.row.description,
            variants: p.variants.into_iter().map(VariantDto::from_row).collect::<Result<_, _>>()?,
            created_at: p.row.created_at.into(),
        })
    }
}

/// List the active catalog.
#[utoipa::path(
    get, path = "/products", tag = "catalog",
    params(PageParams),
    responses(
        (status = 200, description = "A page of products", body = Page<ProductDto>),
        (status = 422, description = "Bad paging parameters", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_products(
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Page<ProductDto>>, ApiError> {
    let limit = page.limit();
    let cursor = match page.cursor.as_deref() {
        None => None,
        Some(c) => {
            Some(ProductId::parse(c).ok_or_else(|| ApiError::validation("cursor", "invalid_cursor"))?.into_string())
        }
    };
    let rows = state.db.run(move |conn| Ok(store::list_active(conn, cursor.as_deref(), i64::from(limit) + 1)?)).await?;
    let mut data = Vec::with_capacity(rows.len());
    let page = Page::from_overfetch(rows, limit, |p| p.row.id.clone(), |p| p);
    for p in page.data {
        data.push(ProductDto::from_domain(p)?);
    }
    Ok(Json(Page { data, has_more: page.has_more, next_cursor: page.next_cursor }))
}

/// One product with its variants.
#[utoipa::path(
    get, path = "/products/{id}", tag = "catalog",
    params(("id" = ProductId, Path, description = "Product id (`prod_…`)")),
    responses(
        (status = 200, description = "The product", body = ProductDto),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_product(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<ProductDto>, ApiError> {
    let id = ProductId::parse(&id).ok_or(ApiError::NotFound)?;
    let product =
        state.db.run(move |conn| Ok(store::find_active(conn, id.as_str())?)).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(ProductDto::from_domain(product)?))
}
