//! `info!`, `warn!`, `error!`: to defmt, to the `log` facade, or nowhere.
//! Format strings must suit both (`{}` for integers and `&str`, `{:?}` else).
#![allow(unused_macros)]

#[macro_export]
macro_rules! fw_log {
    ($defmt:ident, $log:ident, $($arg:tt)+) => {{
        #[cfg(feature = "defmt")]
        ::defmt::$defmt!($($arg)+);
        #[cfg(feature = "log")]
        ::log::$log!($($arg)+);
        #[cfg(not(any(feature = "defmt", feature = "log")))]
        $crate::fw_log!(@ignore $($arg)+);
    }};
    (@ignore $fmt:literal $(, $arg:expr)* $(,)?) => {{
        $( let _ = &$arg; )*
    }};
}

#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::fw_log!(info, info, $($arg)+) };
}
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::fw_log!(warn, warn, $($arg)+) };
}
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::fw_log!(error, error, $($arg)+) };
}
