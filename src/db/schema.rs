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

diesel::allow_tables_to_appear_in_same_query!(
    products,
    product_variants,
    payments,
    refunds,
    webhook_events
);

diesel::table! {
    payments (id) {
        id -> Text,
        order_id -> Nullable<Text>,
        processor -> Text,
        payment_intent_id -> Nullable<Text>,
        payment_method_id -> Text,
        charge_id -> Nullable<Text>,
        status -> Text,
        capture_method -> Text,
        amount -> BigInt,
        amount_captured -> BigInt,
        amount_refunded -> BigInt,
        currency -> Text,
        card_brand -> Nullable<Text>,
        card_last4 -> Nullable<Text>,
        card_exp_month -> Nullable<Integer>,
        card_exp_year -> Nullable<Integer>,
        failure_code -> Nullable<Text>,
        disputed -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    refunds (id) {
        id -> Text,
        payment_id -> Text,
        processor_refund_id -> Nullable<Text>,
        amount -> BigInt,
        currency -> Text,
        status -> Text,
        reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_events (event_id) {
        event_id -> Text,
        event_type -> Text,
        object_id -> Nullable<Text>,
        outcome -> Text,
        received_at -> Timestamp,
    }
}

diesel::joinable!(refunds -> payments (payment_id));
