use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use oauth_store_core::{Clock, ManualClock, SystemClock};

use crate::TestResult;

#[test]
fn manual_clock_moves_only_when_told() {
    let clock = ManualClock::new(1_000);
    assert_eq!(clock.now_ms(), 1_000);
    clock.advance(500);
    assert_eq!(clock.now_ms(), 1_500);
    clock.set(42);
    assert_eq!(clock.now_ms(), 42, "set may move the time backwards");
    assert_eq!(ManualClock::default().now_ms(), 0);
}

#[test]
fn manual_clock_advance_saturates_instead_of_wrapping() {
    let clock = ManualClock::new(u64::MAX - 1);
    clock.advance(10);
    assert_eq!(clock.now_ms(), u64::MAX, "time never wraps to 1970");
}

#[test]
fn system_clock_reads_ms_since_the_epoch() -> TestResult {
    let before = u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;
    let now = SystemClock.now_ms();
    let after = u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;
    assert!(
        before <= now && now <= after,
        "{before} <= {now} <= {after}"
    );
    Ok(())
}

#[test]
fn clocks_are_shareable_trait_objects() {
    let manual = Arc::new(ManualClock::new(7));
    let shared: Arc<dyn Clock> = manual.clone();
    manual.advance(3);
    assert_eq!(
        shared.now_ms(),
        10,
        "a test moves the clock the code under test reads"
    );
    let system: Box<dyn Clock> = Box::new(SystemClock);
    assert!(system.now_ms() > 1_600_000_000_000, "after September 2020");
}
