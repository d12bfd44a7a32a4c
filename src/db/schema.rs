// Diesel schema, identical for both backends (only types that exist on both: Text, BigInt, Integer,
// Bool, Timestamp). Keep in step with `migrations/sqlite` and `migrations/postgres`.

diesel::table! {
    products (id) {
        id -> Text,
        handle -> Text,
        title -> Text,
        description -> Text,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    product_variants (id) {
        id -> Text,
        product_id -> Text,
        sku -> Text,
        title -> Text,
        price_amount -> BigInt,
        currency -> Text,
        stock_on_hand -> Integer,
        weight_grams -> Integer,
        requires_shipping -> Bool,
        position -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(product_variants -> products (product_id));

diesel::allow_tables_to_appear_in_same_query!(products, product_variants);
