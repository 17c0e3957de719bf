//! Calibration and measurement run the float model (and the engine) over thousands of texts,
//! one at a time; this spreads them over the machine's cores. Each thread works through its
//! own contiguous share with its own buffers and returns a partial result, which the caller
//! merges (max-abs ranges and summed energies do not depend on the order).
//!
//! The thread count is process-wide ([`set_threads`], a command's `--threads`), like the size
//! of a global thread pool, so that the library functions that fan out (`calibrate`,
//! `dense_inputs`, `measure`) need no extra parameter.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// The limit set by [`set_threads`]; 0 means one thread per core.
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Makes every later [`on_all_cores`] use `n` threads (0: one per core, the default).
pub fn set_threads(n: usize) {
    THREADS.store(n, Ordering::Relaxed);
}

/// The threads [`on_all_cores`] uses: the [`set_threads`] count, else one per core.
pub fn threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// Runs `job` on `items` split into one contiguous share per thread ([`threads`]) and returns
/// the shares' results in order. `job(share, tick)` calls `tick()` after each item;
/// `progress(done, total)` is called on this thread for every tick.
///
/// # Errors
/// The first share's error, with the item numbers of that share as `job` reported them.
pub fn on_all_cores<T: Sync, R: Send>(
    items: &[T],
    job: impl Fn(Share<'_, T>, &dyn Fn()) -> Result<R, String> + Sync,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<R>, String> {
    let share_len = items.len().div_ceil(threads()).max(1);
    let (ticks, ticked) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(share_len)
            .enumerate()
            .map(|(n, chunk)| {
                let (job, ticks) = (&job, ticks.clone());
                scope.spawn(move || job(Share { items: chunk, first: n * share_len }, &|| {
                    // The receiver outlives the workers; a failed send only loses a tick.
                    let _ = ticks.send(());
                }))
            })
            .collect();
        drop(ticks);
        for (done, ()) in ticked.iter().enumerate() {
            progress(done + 1, items.len());
        }
        workers.into_iter().map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}

/// One thread's contiguous part of the items.
pub struct Share<'a, T> {
    pub items: &'a [T],
    /// Index of `items[0]` in the whole list (for messages that name an item).
    pub first: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_come_back_in_order_with_every_tick() {
        let items: Vec<usize> = (0..1001).collect();
        let mut ticks = 0;
        let shares = on_all_cores(
            &items,
            |share, tick| {
                share.items.iter().for_each(|_| tick());
                Ok((share.first, share.items.to_vec()))
            },
            |done, total| {
                ticks += 1;
                assert_eq!((done, total), (ticks, 1001));
            },
        )
        .unwrap();
        assert_eq!(ticks, 1001);
        assert_eq!(shares.iter().flat_map(|(_, s)| s.iter().copied()).collect::<Vec<_>>(), items);
        assert!(shares.iter().all(|(first, s)| s.first() == Some(first)));
    }

    #[test]
    fn set_threads_sets_the_number_of_shares() {
        let items = [0u8; 10];
        set_threads(3);
        let shares = on_all_cores(&items, |share, _| Ok(share.items.len()), |_, _| {}).unwrap();
        set_threads(0);
        assert_eq!(shares, [4, 4, 2]);
    }

    #[test]
    fn an_error_is_returned_and_empty_input_runs_nothing() {
        let got = on_all_cores(&[1, 2, 3], |share, _| if share.items.contains(&2) { Err("two".into()) } else { Ok(()) }, |_, _| {});
        assert_eq!(got, Err("two".to_string()));
        let none: Vec<()> = on_all_cores(&[] as &[u8], |_, _| Ok(()), |_, _| {}).unwrap();
        assert!(none.is_empty());
    }
}
