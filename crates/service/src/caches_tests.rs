use super::*;

fn op() -> Caller {
    Caller::Operator {
        key_id: "key_1".into(),
    }
}

fn acct(key_id: &str) -> Caller {
    Caller::Account {
        key_id: key_id.into(),
        account_id: "acct_1".into(),
    }
}

/// A cache whose feed was read at `at` (revision 0, nothing changed).
fn fed_at(at: i64) -> Caches {
    let c = Caches::default();
    feed(&c, at, 0, &[]);
    c
}

/// A read of the feed, due at `at`, finding `ids` changed up to `revision`.
fn feed(c: &Caches, at: i64, revision: i64, ids: &[&str]) {
    let read = c.feed_read_due(at).expect("a read is due");
    let changes = KeyChanges {
        revision,
        key_ids: ids.iter().map(|s| s.to_string()).collect(),
        forget_all: read.since.is_none(),
    };
    c.feed_read(read, &changes);
}

fn remember(c: &Caches, hash: &str, caller: &Caller, until: Option<i64>, at: i64) {
    let read = c.key_read();
    c.remember_caller(hash, caller, until, at, read);
}

#[test]
fn keys_are_remembered_and_forgotten() {
    let c = fed_at(0);
    assert_eq!(c.caller("h", 0), KeyLookup::Unknown);
    remember(&c, "h", &op(), None, 0);
    assert_eq!(c.caller("h", 1_000), KeyLookup::Known(op()));
    c.forget_caller("h");
    assert_eq!(c.caller("h", 1_000), KeyLookup::Unknown);
}

/// Past half its time a key is read again by one request, while the others answer
/// from the cache; a key not read again expires. (The feed is read every second
/// here, so that only the key's own time is at play.)
#[test]
fn one_request_rereads_a_key_before_it_expires() {
    let c = fed_at(0);
    let at = |t: i64| {
        if let Some(read) = c.feed_read_due(t) {
            c.feed_read(read, &KeyChanges::default_at(0));
        }
        t
    };
    remember(&c, "h", &op(), None, 0);
    let half = KEY_TTL_MS / 2;
    assert_eq!(c.caller("h", at(half - 1)), KeyLookup::Known(op()));
    assert_eq!(c.caller("h", at(half)), KeyLookup::Reread(op()));
    assert_eq!(c.caller("h", at(half + 1)), KeyLookup::Known(op()));
    // The reread failed: the next request tries again.
    c.reread_failed("h");
    assert_eq!(c.rereads_failed.load(Ordering::Relaxed), 1);
    assert_eq!(c.caller("h", at(half + 2)), KeyLookup::Reread(op()));
    // Never read again: expired at KEY_TTL_MS.
    assert_eq!(c.caller("h", at(KEY_TTL_MS - 1)), KeyLookup::Known(op()));
    assert_eq!(c.caller("h", at(KEY_TTL_MS)), KeyLookup::Unknown);
    // Read again: a new start (past KEY_TTL_MS from the first read).
    remember(&c, "h", &op(), None, half + 2);
    let t = at(half + 2 + half - 1);
    assert_eq!(c.caller("h", t), KeyLookup::Known(op()));
    assert_eq!(c.caller("h", at(half + 2 + half)), KeyLookup::Reread(op()));
    assert_eq!(c.trusted("h", half + 2 + half), Some(op()));
    assert_eq!(c.trusted("h", at(half + 2 + KEY_TTL_MS)), None);
    // A clock set back to before the read: not trusted (read again).
    assert_eq!(c.caller("h", half + 1), KeyLookup::Unknown);
    assert_eq!(c.trusted("h", half + 1), None);
}

impl KeyChanges {
    fn default_at(revision: i64) -> KeyChanges {
        KeyChanges {
            revision,
            key_ids: vec![],
            forget_all: false,
        }
    }
}

/// A secret valid until a time (a key's expiry, a rotated secret's grace) is not
/// answered from memory from that time on.
#[test]
fn a_secret_is_not_trusted_past_its_end() {
    let c = fed_at(0);
    remember(&c, "h", &op(), Some(1_500), 0);
    assert_eq!(c.caller("h", 1_499), KeyLookup::Known(op()));
    assert_eq!(c.caller("h", 1_500), KeyLookup::Unknown);
    assert_eq!(c.trusted("h", 1_500), None);
}

/// No key is answered from memory before the feed was read, nor once its last read
/// is KEY_CHANGES_BOUND_MS old (reads failing), nor with the clock set back before it.
#[test]
fn keys_are_trusted_only_while_the_feed_is_current() {
    let c = Caches::default();
    // Before the first read: a key read from the database is not kept.
    remember(&c, "h", &op(), None, 0);
    feed(&c, 0, 7, &[]);
    assert_eq!(c.caller("h", 0), KeyLookup::Unknown);
    remember(&c, "h", &op(), None, 0);
    assert_eq!(
        c.caller("h", KEY_CHANGES_BOUND_MS - 1),
        KeyLookup::Known(op())
    );
    // A read is due each KEY_CHANGES_EVERY_MS, one at a time; it failed.
    assert_eq!(c.feed_read_due(KEY_CHANGES_EVERY_MS - 1), None);
    let read = c.feed_read_due(KEY_CHANGES_EVERY_MS).expect("due");
    assert_eq!(read.since, Some(7));
    assert_eq!(c.feed_read_due(KEY_CHANGES_EVERY_MS), None, "one at a time");
    c.feed_read_failed();
    assert_eq!(
        c.caller("h", KEY_CHANGES_BOUND_MS - 1),
        KeyLookup::Known(op())
    );
    assert_eq!(c.caller("h", KEY_CHANGES_BOUND_MS), KeyLookup::Unknown);
    assert_eq!(c.trusted("h", KEY_CHANGES_BOUND_MS), None);
    // A read succeeds: trusted again; the clock set back before it: not.
    feed(&c, KEY_CHANGES_BOUND_MS, 7, &[]);
    assert_eq!(c.caller("h", KEY_CHANGES_BOUND_MS), KeyLookup::Known(op()));
    assert_eq!(c.caller("h", KEY_CHANGES_BOUND_MS - 1), KeyLookup::Unknown);
}

/// A key the feed says changed is forgotten, with all its secrets; the others stay.
#[test]
fn the_feed_forgets_the_keys_it_names() {
    let c = fed_at(0);
    remember(&c, "old", &acct("key_a"), None, 0);
    remember(&c, "new", &acct("key_a"), None, 0);
    remember(&c, "b", &acct("key_b"), None, 0);
    feed(&c, KEY_CHANGES_EVERY_MS, 3, &["key_a"]);
    let now = KEY_CHANGES_EVERY_MS;
    assert_eq!(c.caller("old", now), KeyLookup::Unknown);
    assert_eq!(c.caller("new", now), KeyLookup::Unknown);
    assert_eq!(c.caller("b", now), KeyLookup::Known(acct("key_b")));
    // More changes than one read takes: every key is forgotten.
    let read = c.feed_read_due(2 * KEY_CHANGES_EVERY_MS).unwrap();
    assert_eq!(read.since, Some(3));
    let all = KeyChanges {
        forget_all: true,
        ..KeyChanges::default_at(1_003)
    };
    c.feed_read(read, &all);
    assert_eq!(c.caller("b", 2 * KEY_CHANGES_EVERY_MS), KeyLookup::Unknown);
    // Revoked here: forgotten at once.
    remember(&c, "b", &acct("key_b"), None, 2_000);
    c.forget_key("key_b");
    assert_eq!(c.caller("b", 2_000), KeyLookup::Unknown);
}

/// A key read from the database before a change was applied is not kept: its answer
/// may predate the change (read, revoked, change applied, then kept: it would be
/// trusted until its TTL).
#[test]
fn a_key_read_before_a_change_is_not_kept() {
    let c = fed_at(0);
    let read = c.key_read();
    feed(&c, KEY_CHANGES_EVERY_MS, 1, &["key_a"]);
    c.remember_caller("h", &acct("key_a"), None, 1_000, read);
    assert_eq!(c.caller("h", 1_000), KeyLookup::Unknown);
    let read = c.key_read();
    c.forget_key("key_z");
    c.remember_caller("h", &acct("key_a"), None, 1_000, read);
    assert_eq!(c.caller("h", 1_000), KeyLookup::Unknown);
    // A read of the feed that found nothing does not stop it.
    let read = c.key_read();
    feed(&c, 2 * KEY_CHANGES_EVERY_MS, 1, &[]);
    c.remember_caller("h", &acct("key_a"), None, 2_000, read);
    assert_eq!(c.caller("h", 2_000), KeyLookup::Known(acct("key_a")));
}

#[test]
fn uses_are_noted_latest_first_and_taken_once() {
    let c = Caches::default();
    c.note_use("key_1", 5);
    c.note_use("key_1", 3);
    c.note_use("key_2", 4);
    let mut taken = c.take_uses();
    taken.sort();
    assert_eq!(taken, vec![("key_1".into(), 5), ("key_2".into(), 4)]);
    assert!(c.take_uses().is_empty());
    c.give_back_uses(taken);
    c.note_use("key_2", 9);
    let mut again = c.take_uses();
    again.sort();
    assert_eq!(again, vec![("key_1".into(), 5), ("key_2".into(), 9)]);
}

#[test]
fn parents_are_remembered() {
    let c = Caches::default();
    assert_eq!(c.parent("acct_1"), None);
    c.remember_parent("acct_1", None);
    c.remember_parent("acct_2", Some("acct_1"));
    assert_eq!(c.parent("acct_1"), Some(None));
    assert_eq!(c.parent("acct_2"), Some(Some("acct_1".into())));
}
