//! Tenant-ordered keys: `(tenant, time, tiebreak)` as bytes that sort by
//! tenant, then time, then tiebreak.
//!
//! A Snowflake id as a primary key spreads one tenant's rows over the
//! whole key space, in time order across all tenants. A clustered primary
//! key wants one tenant's rows side by side, in time order within the
//! tenant: this encoding gives that to any store that orders keys as
//! unsigned bytes (B-trees, LSM trees, most key-value stores).
//!
//! # Layout (18 bytes, all big-endian)
//!
//! ```text
//!  bytes 0..8    tenant, u64
//!  bytes 8..16   time in ns since the Unix epoch, i64 with its sign bit
//!                flipped
//!  bytes 16..18  tiebreak, u16 (a node id, a sequence, ...)
//! ```
//!
//! Big-endian puts the most significant byte first, so unsigned integers
//! compare as their bytes do. A signed `i64` does not: negative values have
//! the top bit set. Flipping that bit maps `i64::MIN..=i64::MAX` onto
//! `0..=u64::MAX` in order (`x ^ 2^63` as unsigned is `x + 2^63`), so
//! times before 1970 sort before times after it. Fixed-width fields then
//! make the byte order of two keys the order of their `(tenant, time,
//! tiebreak)` tuples.

use std::fmt;
use tt_core::Timestamp;

const SIGN_BIT: u64 = 1 << 63;

/// A decoded tenant key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantKey {
    /// The tenant, most significant.
    pub tenant: u64,
    /// The time within the tenant.
    pub time: Timestamp,
    /// What separates keys of one tenant at the same nanosecond.
    pub tiebreak: u16,
}

/// Why bytes are not a tenant key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantKeyError {
    /// The key is not 18 bytes long.
    WrongLength {
        /// The length given.
        len: usize,
    },
}

impl fmt::Display for TenantKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TenantKeyError::WrongLength { len } => write!(
                f,
                "a tenant key is {} bytes (tenant, time, tiebreak), not {len}",
                TenantKey::LEN
            ),
        }
    }
}

impl std::error::Error for TenantKeyError {}

impl TenantKey {
    /// The length of an encoded key in bytes.
    pub const LEN: usize = 18;

    /// The bytes of `(tenant, time, tiebreak)`.
    ///
    /// ```
    /// use tt_client::tenant::TenantKey;
    /// use tt_core::Timestamp;
    /// let before_1970 = TenantKey::encode(7, Timestamp::from_unix_nanos(-1), 0);
    /// let after_1970 = TenantKey::encode(7, Timestamp::from_unix_nanos(1), 0);
    /// let next_tenant = TenantKey::encode(8, Timestamp::from_unix_nanos(i64::MIN), 0);
    /// assert!(before_1970 < after_1970 && after_1970 < next_tenant);
    /// ```
    pub fn encode(tenant: u64, time: Timestamp, tiebreak: u16) -> [u8; TenantKey::LEN] {
        let mut key = [0; TenantKey::LEN];
        key[..8].copy_from_slice(&tenant.to_be_bytes());
        key[8..16].copy_from_slice(&order_preserving(time).to_be_bytes());
        key[16..].copy_from_slice(&tiebreak.to_be_bytes());
        key
    }

    /// The bytes of this key.
    pub fn to_bytes(&self) -> [u8; TenantKey::LEN] {
        TenantKey::encode(self.tenant, self.time, self.tiebreak)
    }

    /// The key these bytes encode; refuses any length but 18.
    pub fn decode(bytes: &[u8]) -> Result<TenantKey, TenantKeyError> {
        let bytes: &[u8; TenantKey::LEN] = bytes
            .try_into()
            .map_err(|_| TenantKeyError::WrongLength { len: bytes.len() })?;
        let mut tenant = [0; 8];
        tenant.copy_from_slice(&bytes[..8]);
        let mut time = [0; 8];
        time.copy_from_slice(&bytes[8..16]);
        let mut tiebreak = [0; 2];
        tiebreak.copy_from_slice(&bytes[16..]);
        Ok(TenantKey {
            tenant: u64::from_be_bytes(tenant),
            time: Timestamp::from_unix_nanos((u64::from_be_bytes(time) ^ SIGN_BIT) as i64),
            tiebreak: u16::from_be_bytes(tiebreak),
        })
    }

    /// The first 8 bytes of every key of `tenant`: a prefix scan over it
    /// yields the tenant's keys in time order.
    pub fn tenant_prefix(tenant: u64) -> [u8; 8] {
        tenant.to_be_bytes()
    }
}

/// `time` as an unsigned value in the same order: its sign bit flipped.
fn order_preserving(time: Timestamp) -> u64 {
    (time.unix_nanos() as u64) ^ SIGN_BIT
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sign_flip_maps_the_ends_of_i64_to_the_ends_of_u64() {
        assert_eq!(order_preserving(Timestamp::from_unix_nanos(i64::MIN)), 0);
        assert_eq!(
            order_preserving(Timestamp::from_unix_nanos(-1)),
            SIGN_BIT - 1
        );
        assert_eq!(order_preserving(Timestamp::from_unix_nanos(0)), SIGN_BIT);
        assert_eq!(
            order_preserving(Timestamp::from_unix_nanos(i64::MAX)),
            u64::MAX
        );
    }

    #[test]
    fn bytes_are_where_the_layout_says() {
        let key = TenantKey::encode(0x0102_0304_0506_0708, Timestamp::from_unix_nanos(1), 0x0a0b);
        assert_eq!(
            key,
            [1, 2, 3, 4, 5, 6, 7, 8, 0x80, 0, 0, 0, 0, 0, 0, 1, 0x0a, 0x0b]
        );
        assert_eq!(&key[..8], &TenantKey::tenant_prefix(0x0102_0304_0506_0708));
    }

    #[test]
    fn decode_refuses_other_lengths() {
        assert_eq!(
            TenantKey::decode(&[0; 17]),
            Err(TenantKeyError::WrongLength { len: 17 })
        );
        assert_eq!(
            TenantKey::decode(&[0; 19]),
            Err(TenantKeyError::WrongLength { len: 19 })
        );
        let smallest = TenantKey::decode(&[0; 18]).expect("18 bytes");
        assert_eq!(smallest.time, Timestamp::from_unix_nanos(i64::MIN));
    }

    /// Times drawn so that the ends of `i64`, zero and its neighbours turn
    /// up often, not once in 2^64.
    fn times() -> impl Strategy<Value = i64> {
        prop_oneof![
            Just(i64::MIN),
            Just(i64::MIN + 1),
            Just(-1i64),
            Just(0i64),
            Just(1i64),
            Just(i64::MAX - 1),
            Just(i64::MAX),
            -1_000i64..1_000,
            any::<i64>(),
        ]
    }

    fn tenants() -> impl Strategy<Value = u64> {
        prop_oneof![Just(0u64), Just(u64::MAX), 0u64..4, any::<u64>()]
    }

    fn tiebreaks() -> impl Strategy<Value = u16> {
        prop_oneof![Just(0u16), Just(u16::MAX), 0u16..4, any::<u16>()]
    }

    fn keys() -> impl Strategy<Value = (u64, i64, u16)> {
        (tenants(), times(), tiebreaks())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn byte_order_is_tuple_order(a in keys(), b in keys()) {
            let bytes_a = TenantKey::encode(a.0, Timestamp::from_unix_nanos(a.1), a.2);
            let bytes_b = TenantKey::encode(b.0, Timestamp::from_unix_nanos(b.1), b.2);
            prop_assert_eq!(bytes_a.cmp(&bytes_b), a.cmp(&b));
        }

        #[test]
        fn decode_inverts_encode(key in keys()) {
            let time = Timestamp::from_unix_nanos(key.1);
            let bytes = TenantKey::encode(key.0, time, key.2);
            let decoded = TenantKey::decode(&bytes).expect("18 bytes");
            prop_assert_eq!(decoded, TenantKey { tenant: key.0, time, tiebreak: key.2 });
            prop_assert_eq!(decoded.to_bytes(), bytes);
        }
    }
}
