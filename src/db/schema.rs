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
    webhook_events,
    carts,
    cart_lines,
    orders,
    order_lines,
    order_events,
    counters,
    idempotency_keys,
    outbox,
    audit_log,
    privacy_requests,
    privacy_sessions,
    accounts,
    account_sessions,
    account_links,
    audit_head,
    partners,
    partner_keys,
    staff_members,
    staff_sessions,
    staff_setup_links,
    second_factors,
    recovery_codes,
    routing_rules,
    fulfillments,
    fulfillment_lines,
    shipments,
    shipment_lines,
    partner_exports,
    partner_export_chunks,
    partner_notices,
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

diesel::table! {
    carts (id) {
        id -> Text,
        token_hash -> Text,
        status -> Text,
        currency -> Text,
        email -> Nullable<Text>,
        ship_name -> Nullable<Text>,
        ship_line1 -> Nullable<Text>,
        ship_line2 -> Nullable<Text>,
        ship_city -> Nullable<Text>,
        ship_region -> Nullable<Text>,
        ship_postal_code -> Nullable<Text>,
        ship_country -> Nullable<Text>,
        ship_phone -> Nullable<Text>,
        shipping_method -> Nullable<Text>,
        is_gift -> Bool,
        recipient_consent_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        subject_id -> Nullable<Text>,
        account_id -> Nullable<Text>,
    }
}

diesel::table! {
    cart_lines (cart_id, variant_id) {
        cart_id -> Text,
        variant_id -> Text,
        quantity -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    orders (id) {
        id -> Text,
        number -> Text,
        access_token_hash -> Text,
        cart_id -> Text,
        status -> Text,
        currency -> Text,
        subtotal -> BigInt,
        shipping_total -> BigInt,
        tax_total -> BigInt,
        discount_total -> BigInt,
        total -> BigInt,
        prices_include_tax -> Bool,
        email -> Text,
        ship_name -> Nullable<Text>,
        ship_line1 -> Nullable<Text>,
        ship_line2 -> Nullable<Text>,
        ship_city -> Nullable<Text>,
        ship_region -> Nullable<Text>,
        ship_postal_code -> Nullable<Text>,
        ship_country -> Nullable<Text>,
        ship_phone -> Nullable<Text>,
        shipping_method -> Nullable<Text>,
        is_gift -> Bool,
        recipient_consent_at -> Nullable<Timestamp>,
        payment_id -> Nullable<Text>,
        reserved_until -> Nullable<Timestamp>,
        stock_released -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        subject_id -> Nullable<Text>,
        account_id -> Nullable<Text>,
        routed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    order_lines (id) {
        id -> Text,
        order_id -> Text,
        variant_id -> Text,
        sku -> Text,
        title -> Text,
        unit_price -> BigInt,
        quantity -> Integer,
        quantity_refunded -> Integer,
        line_total -> BigInt,
        requires_shipping -> Bool,
    }
}

diesel::table! {
    order_events (id) {
        id -> Text,
        order_id -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        actor -> Text,
        reason -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    counters (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    idempotency_keys (key_hash) {
        key_hash -> Text,
        scope -> Text,
        request_hash -> Text,
        state -> Text,
        response_status -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        resource_id -> Nullable<Text>,
        sealed_secret -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        kind -> Text,
        order_id -> Nullable<Text>,
        request_id -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        lease_token -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    privacy_requests (id) {
        id -> Text,
        kind -> Text,
        subject_id -> Text,
        status -> Text,
        raised_by -> Text,
        contact -> Nullable<Text>,
        secret -> Nullable<Text>,
        token_hash -> Nullable<Text>,
        hold_reason -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        used_at -> Nullable<Timestamp>,
        done_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    accounts (id) {
        id -> Text,
        subject_id -> Text,
        email -> Text,
        name -> Nullable<Text>,
        password_hash -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        password_changed_at -> Timestamp,
    }
}

diesel::table! {
    account_sessions (token_hash) {
        token_hash -> Text,
        account_id -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(account_sessions -> accounts (account_id));

diesel::table! {
    account_links (id) {
        id -> Text,
        account_id -> Text,
        token_hash -> Text,
        secret -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        purpose -> Text,
    }
}

diesel::table! {
    privacy_sessions (token_hash) {
        token_hash -> Text,
        subject_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        actor -> Text,
        action -> Text,
        subject_id -> Nullable<Text>,
        created_at -> Timestamp,
        actor_id -> Nullable<Text>,
        outcome -> Text,
        network -> Nullable<Text>,
        seq -> Nullable<BigInt>,
        prev_hash -> Nullable<Text>,
        hash -> Nullable<Text>,
    }
}

diesel::table! {
    partners (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamp,
        carrier_needs_phone -> Bool,
        webhook_url -> Nullable<Text>,
        webhook_secret -> Nullable<Text>,
        disabled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    partner_keys (id) {
        id -> Text,
        partner_id -> Text,
        prefix -> Text,
        token_hash -> Text,
        scopes -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(partner_keys -> partners (partner_id));

diesel::table! {
    audit_head (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::joinable!(cart_lines -> carts (cart_id));
diesel::joinable!(cart_lines -> product_variants (variant_id));
diesel::joinable!(order_lines -> orders (order_id));
diesel::joinable!(order_events -> orders (order_id));

diesel::table! {
    staff_members (id) {
        id -> Text,
        email_index -> Text,
        email -> Text,
        role -> Text,
        password_hash -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        disabled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    staff_sessions (token_hash) {
        token_hash -> Text,
        staff_id -> Text,
        verified -> Bool,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    staff_setup_links (token_hash) {
        token_hash -> Text,
        staff_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    second_factors (realm, holder_id) {
        realm -> Text,
        holder_id -> Text,
        secret -> Text,
        confirmed_at -> Nullable<Timestamp>,
        last_step -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    recovery_codes (code_hash) {
        code_hash -> Text,
        realm -> Text,
        holder_id -> Text,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(staff_sessions -> staff_members (staff_id));
diesel::joinable!(staff_setup_links -> staff_members (staff_id));

diesel::table! {
    routing_rules (id) {
        id -> Text,
        partner_id -> Text,
        priority -> Integer,
        shipping_method -> Nullable<Text>,
        country -> Nullable<Text>,
        sku_prefix -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    fulfillments (id) {
        id -> Text,
        order_id -> Text,
        partner_id -> Nullable<Text>,
        reference -> Text,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        acknowledged_at -> Nullable<Timestamp>,
        shipped_at -> Nullable<Timestamp>,
        delivered_at -> Nullable<Timestamp>,
        exception -> Nullable<Text>,
    }
}

diesel::table! {
    fulfillment_lines (fulfillment_id, order_line_id) {
        fulfillment_id -> Text,
        order_line_id -> Text,
        sku -> Text,
        title -> Text,
        quantity -> Integer,
        weight_grams -> Integer,
        unit_value -> BigInt,
        quantity_shipped -> Integer,
    }
}

diesel::table! {
    shipments (id) {
        id -> Text,
        fulfillment_id -> Text,
        carrier -> Text,
        tracking_number -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    shipment_lines (shipment_id, order_line_id) {
        shipment_id -> Text,
        order_line_id -> Text,
        quantity -> Integer,
    }
}

diesel::table! {
    partner_exports (id) {
        id -> Text,
        partner_id -> Text,
        key_id -> Text,
        kind -> Text,
        fields -> Text,
        filter -> Text,
        rows -> BigInt,
        created_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    partner_export_chunks (export_id, seq) {
        export_id -> Text,
        seq -> Integer,
        refs -> Text,
    }
}

diesel::table! {
    partner_notices (id) {
        id -> Text,
        partner_id -> Text,
        event -> Text,
        reference -> Text,
        created_at -> Timestamp,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_token -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        delivered_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::joinable!(fulfillments -> orders (order_id));
diesel::joinable!(fulfillment_lines -> fulfillments (fulfillment_id));
diesel::joinable!(routing_rules -> partners (partner_id));
diesel::joinable!(shipments -> fulfillments (fulfillment_id));
