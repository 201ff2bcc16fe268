//! Logging shim: `trace!` … `error!` go to defmt, to the `log` facade, or
//! nowhere (arguments are still evaluated, so a build without logging has the
//! same warnings as one with it). The pattern of `embassy-time/src/fmt.rs`.
//!
//! Format strings must be valid for both back ends: plain `{}` for integers
//! and `&str`, `{:?}` for everything else (core types derive both `Debug` and,
//! with the `defmt` feature, `defmt::Format`).
#![allow(unused_macros)]

#[cfg(all(feature = "defmt", feature = "log"))]
compile_error!("features `defmt` and `log` of booth-bare are mutually exclusive");

macro_rules! log_at {
    ($defmt:ident, $log:ident, $($arg:tt)+) => {{
        #[cfg(feature = "defmt")]
        ::defmt::$defmt!($($arg)+);
        #[cfg(feature = "log")]
        ::log::$log!($($arg)+);
        #[cfg(not(any(feature = "defmt", feature = "log")))]
        log_at!(@ignore $($arg)+);
    }};
    (@ignore $fmt:literal $(, $arg:expr)* $(,)?) => {{
        $( let _ = &$arg; )*
    }};
}

macro_rules! trace {
    ($($arg:tt)+) => { log_at!(trace, trace, $($arg)+) };
}
macro_rules! debug {
    ($($arg:tt)+) => { log_at!(debug, debug, $($arg)+) };
}
macro_rules! info {
    ($($arg:tt)+) => { log_at!(info, info, $($arg)+) };
}
macro_rules! warn {
    ($($arg:tt)+) => { log_at!(warn, warn, $($arg)+) };
}
macro_rules! error {
    ($($arg:tt)+) => { log_at!(error, error, $($arg)+) };
}
