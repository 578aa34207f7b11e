use super::*;

fn req(key: &str, token: &str, amount: i64) -> ChargeRequest {
    ChargeRequest {
        idempotency_key: key.into(),
        payment_method: token.into(),
        customer: None,
        amount,
        currency: "GBP".into(),
        description: "test".into(),
        metadata: vec![],
        off_session: true,
        authenticated: false,
    }
}

fn sandbox() -> Sandbox {
    Sandbox::in_memory(Arc::new(|| 0))
}

#[tokio::test]
async fn r25_same_key_never_charges_twice() {
    let s = sandbox();
    let a = s.charge(&req("k1", "pm_card_visa", 1000)).await.unwrap();
    let b = s.charge(&req("k1", "pm_card_visa", 1000)).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(s.charges(), vec![("k1".into(), 1000)]);
    assert!(s.charge(&req("k1", "pm_card_visa", 999)).await.is_err());
}

#[tokio::test]
async fn r23_decline_classes() {
    let s = sandbox();
    let class = |c: Charge| match c.status {
        ChargeStatus::Declined { class, .. } => Some(class),
        _ => None,
    };
    assert_eq!(
        class(
            s.charge(&req("a", "pm_card_chargeDeclined", 100))
                .await
                .unwrap()
        ),
        Some(DeclineClass::Soft)
    );
    assert_eq!(
        class(
            s.charge(&req("b", "pm_card_chargeDeclinedLostCard", 100))
                .await
                .unwrap()
        ),
        Some(DeclineClass::Hard)
    );
    assert_eq!(
        class(
            s.charge(&req("c", "pm_card_authenticationRequired", 100))
                .await
                .unwrap()
        ),
        Some(DeclineClass::AuthenticationRequired)
    );
    let mut authed = req("d", "pm_card_authenticationRequired", 100);
    authed.authenticated = true;
    assert_eq!(
        s.charge(&authed).await.unwrap().status,
        ChargeStatus::Succeeded
    );
}

#[tokio::test]
async fn r25_timeout_after_charge_is_found_by_key() {
    let s = sandbox();
    s.inject(Fault::TimeoutAfterCharge);
    assert!(matches!(
        s.charge(&req("k", "pm_card_visa", 500)).await,
        Err(GatewayError::Outage(_))
    ));
    let found = s.find_charge("k").await.unwrap().unwrap();
    assert_eq!(found.status, ChargeStatus::Succeeded);
    s.inject(Fault::Outage);
    assert!(s.charge(&req("k2", "pm_card_visa", 500)).await.is_err());
    assert_eq!(s.find_charge("k2").await.unwrap(), None);
}

#[tokio::test]
async fn r11_pending_settles_later() {
    let now = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let n = now.clone();
    let s = Sandbox::in_memory(Arc::new(move || {
        n.load(std::sync::atomic::Ordering::SeqCst)
    }))
    .with_settle_after(1000);
    let ok = s.charge(&req("p1", "pm_card_pending", 100)).await.unwrap();
    let bad = s
        .charge(&req("p2", "pm_card_pendingThenFails", 100))
        .await
        .unwrap();
    assert_eq!(ok.status, ChargeStatus::Pending);
    now.store(1000, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        s.retrieve_charge(&ok.id).await.unwrap().status,
        ChargeStatus::Succeeded
    );
    assert!(matches!(
        s.retrieve_charge(&bad.id).await.unwrap().status,
        ChargeStatus::Declined { .. }
    ));
}

#[tokio::test]
async fn the_record_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("refill-sbx-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("charges.jsonl");
    let s = Sandbox::open(&path, Arc::new(|| 0)).unwrap();
    s.charge(&req("k", "pm_card_visa", 700)).await.unwrap();
    drop(s);
    let again = Sandbox::open(&path, Arc::new(|| 0)).unwrap();
    assert_eq!(again.charges(), vec![("k".into(), 700)]);
    again.charge(&req("k", "pm_card_visa", 700)).await.unwrap();
    assert_eq!(Sandbox::charges_in_file(&path).unwrap().len(), 1);
    std::fs::remove_dir_all(dir).ok();
}
