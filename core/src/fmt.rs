//! Derive helpers: `defmt::Format` on core types behind the `defmt` feature.

/// Wraps an item so it derives `defmt::Format` when the feature is on.
macro_rules! defmt_derive {
    ($item:item) => {
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        $item
    };
}
