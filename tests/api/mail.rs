//! The mailer: the outbox delivered over SMTP to a real server (aiosmtpd), rendered at send time,
//! exactly once per row with two workers (two server instances on one database), retried with
//! back-off through a failing server without loss; `.eml` files without an SMTP server.

use crate::support::smtp::SmtpSink;
use crate::support::{TestApp, logs};
use leancart::mail::store::Entry;
use serde_json::{Value, json};

async fn outbox(app: &TestApp) -> Vec<Entry> {
    app.state.db.run(|c| Ok(leancart::mail::store::all(c)?)).await.unwrap()
}

async fn placed_number(app: &TestApp, n: usize) -> String {
    let cart = app.new_cart().await;
    assert_eq!(app.add(&cart, "TEE-BLK-M", 1).await.0, 200);
    let mut details = crate::support::shop::german_details();
    details["email"] = json!(format!("mail.shopper{n}@example.org"));
    details["shipping_address"]["name"] = json!(format!("Mailtest Person{n} <b>&"));
    assert_eq!(app.details(&cart, details).await.0, 200);
    let placed: Value = app.place(&cart, &format!("mail-{n}"), "pm_card_visa").await.json().await.unwrap();
    placed["order"]["number"].as_str().unwrap().to_owned()
}

/// The order confirmation, rendered when sent: to the shopper's address, text and HTML (the name
/// escaped in HTML), a Message-ID naming the outbox row; the row `sent`; nothing of it in the log.
#[tokio::test(flavor = "multi_thread")]
async fn the_order_confirmation_is_sent_over_smtp() {
    let sink = SmtpSink::start(0);
    let app = TestApp::builder().smtp(&sink).start().await;
    let number = placed_number(&app, 1).await;
    let got = sink.wait_for(1).await;
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.to, "mail.shopper1@example.org");
    assert_eq!(m.header("Subject").as_deref(), Some(format!("Your order {number}").as_str()));
    assert!(m.header("Message-ID").is_some_and(|id| id.starts_with("<msg_") && id.ends_with("@leancart>")));
    let text = m.text();
    assert!(text.contains("multipart/alternative") && text.contains("text/plain") && text.contains("text/html"));
    assert!(text.contains("Mailtest Person1 <b>&"), "the name as written, in the text part");
    assert!(text.contains("Mailtest Person1 &lt;b&gt;&amp;"), "and escaped in the HTML part");
    assert!(text.contains("12 Analytical Row") && text.contains(&number));
    for _ in 0..50 {
        if outbox(&app).await.iter().all(|e| e.status == "sent") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let rows = outbox(&app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].kind.as_str(), rows[0].status.as_str(), rows[0].attempts), ("order_confirmation", "sent", 1));
    let log = logs::all();
    assert!(!log.contains("mail.shopper1") && !log.contains("Mailtest"), "no recipient or body in the log");
}

/// Two server instances on one database, their workers running rounds at the same time: each of
/// 12 messages is sent exactly once (the lease; `FOR UPDATE SKIP LOCKED` on PostgreSQL).
#[tokio::test(flavor = "multi_thread")]
async fn two_workers_send_each_message_exactly_once() {
    let sink = SmtpSink::start(0);
    let app = TestApp::builder().smtp(&sink).manual_mail().start().await;
    for n in 0..12 {
        placed_number(&app, n).await;
    }
    let second = leancart::app::Application::build((*app.state.config).clone()).await.expect("a second instance");
    let (a, b) = (app.state.clone(), second.state().clone());
    let worker = |state: leancart::app::AppState| {
        tokio::spawn(async move {
            let mut sent = 0;
            for _ in 0..20 {
                sent += leancart::mail::worker::run_once(&state).await.unwrap();
            }
            sent
        })
    };
    let (x, y) = (worker(a), worker(b));
    let (x, y) = (x.await.unwrap(), y.await.unwrap());
    assert_eq!(x + y, 12, "every message sent once between the two ({x} + {y})");
    let got = sink.wait_for(12).await;
    let mut ids: Vec<String> = got.iter().filter_map(|m| m.header("Message-ID")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((got.len(), ids.len()), (12, 12), "no message twice");
    assert!(outbox(&app).await.iter().all(|e| e.status == "sent" && e.attempts == 1));
}

/// A server refusing for a while (451): each attempt is recorded and the next waits its back-off
/// (30 s, then 60 s); the message is delivered once the server takes it — once, nothing lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_smtp_server_is_retried_with_backoff_without_loss() {
    use leancart::mail::worker::run_once;
    let sink = SmtpSink::start(2);
    let app = TestApp::builder().smtp(&sink).manual_mail().start().await;
    placed_number(&app, 1).await;
    assert_eq!(run_once(&app.state).await.unwrap(), 0);
    let rows = outbox(&app).await;
    assert_eq!(
        (rows[0].status.as_str(), rows[0].attempts, rows[0].last_error.as_deref()),
        ("pending", 1, Some("smtp_deferred"))
    );
    assert_eq!(run_once(&app.state).await.unwrap(), 0, "not due before its back-off");
    assert_eq!(outbox(&app).await[0].attempts, 1);
    app.state.clock.advance(chrono::Duration::seconds(31));
    assert_eq!(run_once(&app.state).await.unwrap(), 0);
    assert_eq!(outbox(&app).await[0].attempts, 2);
    app.state.clock.advance(chrono::Duration::seconds(31));
    assert_eq!(run_once(&app.state).await.unwrap(), 0, "the second back-off is 60 s");
    app.state.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(run_once(&app.state).await.unwrap(), 1);
    let rows = outbox(&app).await;
    assert_eq!((rows[0].status.as_str(), rows[0].attempts, rows[0].last_error.as_deref()), ("sent", 3, None));
    assert_eq!(sink.wait_for(1).await.len(), 1);
    app.state.clock.advance(chrono::Duration::seconds(3600));
    assert_eq!(run_once(&app.state).await.unwrap(), 0);
    assert_eq!(sink.messages().len(), 1, "sent once");
}

/// A server that keeps refusing: given up (`failed`) after the configured attempts, never before.
#[tokio::test(flavor = "multi_thread")]
async fn a_message_is_given_up_after_its_attempts() {
    use leancart::mail::worker::run_once;
    let sink = SmtpSink::start(100);
    let app = TestApp::builder().smtp(&sink).manual_mail().set("LEANCART_MAIL_MAX_ATTEMPTS", "3").start().await;
    placed_number(&app, 1).await;
    for _ in 0..3 {
        run_once(&app.state).await.unwrap();
        app.state.clock.advance(chrono::Duration::seconds(3600));
    }
    let rows = outbox(&app).await;
    assert_eq!((rows[0].status.as_str(), rows[0].attempts), ("failed", 3));
    run_once(&app.state).await.unwrap();
    assert_eq!(outbox(&app).await[0].attempts, 3, "a failed message is not tried again");
}

/// Without an SMTP server (a developer's machine), mail is written as `.eml` files.
#[tokio::test(flavor = "multi_thread")]
async fn without_smtp_mail_is_written_as_eml_files() {
    let app = TestApp::builder().manual_mail().start().await;
    let number = placed_number(&app, 1).await;
    assert_eq!(leancart::mail::worker::run_once(&app.state).await.unwrap(), 1);
    let files: Vec<_> = std::fs::read_dir(app.mail_dir.path()).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(files.len(), 1);
    assert!(files[0].extension().is_some_and(|x| x == "eml"));
    let eml = std::fs::read_to_string(&files[0]).unwrap();
    assert!(eml.contains(&format!("Subject: Your order {number}")) && eml.contains("To: mail.shopper1@example.org"));
}
