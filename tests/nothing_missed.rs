//! Nothing missed: the sweeper (work that stalled inside the stack) and reconciliation with
//! EverBright (webhooks that never came), on real protocols, in one test binary.

mod nothing_missed {
    mod backfill;
    mod reconcile;
    mod sweeper;
}
