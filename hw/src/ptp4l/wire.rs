//! PTP management messages (IEEE 1588-2008 §15) as ptp4l's management
//! socket speaks them: GET requests out, RESPONSE messages in, every field
//! big-endian, every read bounds-checked.
//!
//! A GET is 54 bytes:
//!
//! ```text
//! offset  size  field
//!  0      1     transportSpecific (high nibble, 0) | messageType (0xD, management)
//!  1      1     minorVersionPTP (high nibble) | versionPTP (2)
//!  2      2     messageLength (54)
//!  4      1     domainNumber
//!  5      1     reserved
//!  6      2     flagField (0)
//!  8      8     correctionField (0)
//! 16      4     reserved
//! 20     10     sourcePortIdentity (clockIdentity 8, portNumber 2)
//! 30      2     sequenceId
//! 32      1     controlField (0x04, management)
//! 33      1     logMessageInterval (0x7F)
//! 34     10     targetPortIdentity (all ones: every clock, every port)
//! 44      1     startingBoundaryHops (0: the local ptp4l only)
//! 45      1     boundaryHops (0)
//! 46      1     reserved (high nibble) | actionField (0 GET, 2 RESPONSE)
//! 47      1     reserved
//! 48      2     tlvType (0x0001 MANAGEMENT, 0x0002 MANAGEMENT_ERROR_STATUS)
//! 50      2     lengthField (2 + data length)
//! 52      2     managementId
//! 54      -     data (none in a GET; the data set in a RESPONSE)
//! ```
//!
//! With zero boundary hops ptp4l answers itself and forwards nothing to
//! the network. ptp4l accepts a GET with an empty data field and answers
//! with the data set; the layouts of the four data sets read here are
//! below each parser.

use std::fmt;

/// The management message type (messageType, low nibble of byte 0).
const MESSAGE_TYPE_MANAGEMENT: u8 = 0x0D;
/// PTP version 2 (low nibble of byte 1).
const PTP_VERSION: u8 = 2;
/// controlField of a management message.
const CONTROL_MANAGEMENT: u8 = 0x04;
/// logMessageInterval of a message that has none.
const LOG_INTERVAL_NONE: u8 = 0x7F;
/// Header (34) plus the management fields (14).
const MANAGEMENT_HEADER_LEN: usize = 48;
/// A GET: the header, a TLV header (4) and the management id (2).
pub const GET_LEN: usize = MANAGEMENT_HEADER_LEN + 6;
/// The largest message accepted: ptp4l's own buffer (1500 bytes of
/// message data).
pub const MAX_MESSAGE_LEN: usize = 1500;

const TLV_MANAGEMENT: u16 = 0x0001;
const TLV_MANAGEMENT_ERROR_STATUS: u16 = 0x0002;

/// actionField values (Table 38).
const ACTION_GET: u8 = 0;
const ACTION_RESPONSE: u8 = 2;

/// The management ids read here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ManagementId {
    /// CURRENT_DATA_SET (0x2001): steps removed, offset, mean path delay.
    CurrentDataSet,
    /// PARENT_DATA_SET (0x2002): the grandmaster and its clock quality.
    ParentDataSet,
    /// TIME_PROPERTIES_DATA_SET (0x2003): UTC offset, leap and timescale
    /// flags.
    TimePropertiesDataSet,
    /// TIME_STATUS_NP (0xC000, linuxptp's own): the last offset
    /// measurement, its ingress time, grandmaster presence.
    TimeStatusNp,
}

impl ManagementId {
    /// The id on the wire.
    pub const fn code(self) -> u16 {
        match self {
            ManagementId::CurrentDataSet => 0x2001,
            ManagementId::ParentDataSet => 0x2002,
            ManagementId::TimePropertiesDataSet => 0x2003,
            ManagementId::TimeStatusNp => 0xC000,
        }
    }

    /// The name pmc uses.
    pub const fn name(self) -> &'static str {
        match self {
            ManagementId::CurrentDataSet => "CURRENT_DATA_SET",
            ManagementId::ParentDataSet => "PARENT_DATA_SET",
            ManagementId::TimePropertiesDataSet => "TIME_PROPERTIES_DATA_SET",
            ManagementId::TimeStatusNp => "TIME_STATUS_NP",
        }
    }
}

/// A port identity: the clock's 8-byte identity and a port number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortIdentity {
    /// clockIdentity.
    pub clock: [u8; 8],
    /// portNumber.
    pub port: u16,
}

impl PortIdentity {
    /// Every clock, every port.
    pub const WILDCARD: PortIdentity = PortIdentity {
        clock: [0xFF; 8],
        port: 0xFFFF,
    };

    fn write(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.clock);
        out[8..10].copy_from_slice(&self.port.to_be_bytes());
    }
}

impl fmt::Display for PortIdentity {
    /// As pmc prints it: `aabbcc.fffe.ddeeff-1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.clock;
        write!(
            f,
            "{:02x}{:02x}{:02x}.{:02x}{:02x}.{:02x}{:02x}{:02x}-{}",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], self.port
        )
    }
}

/// Why a received message was refused. Each is one counted rejection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than what its fields need.
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes there.
        got: usize,
    },
    /// Longer than any management message.
    Oversized(usize),
    /// Not a management message.
    NotManagement(u8),
    /// Not PTP version 2.
    Version(u8),
    /// messageLength disagrees with the datagram.
    LengthMismatch {
        /// messageLength.
        header: usize,
        /// Datagram length.
        datagram: usize,
    },
    /// Not a RESPONSE (a GET echoed back, a SET, a COMMAND...).
    NotResponse(u8),
    /// Addressed to another port identity than ours.
    NotForUs(PortIdentity),
    /// A TLV other than MANAGEMENT or MANAGEMENT_ERROR_STATUS.
    UnexpectedTlv(u16),
    /// A TLV whose length runs past the message or is too short.
    BadTlvLength {
        /// lengthField.
        length: usize,
        /// Bytes left for it.
        room: usize,
    },
    /// An answer to another request than the one outstanding.
    WrongSequence {
        /// The sequence id sent.
        expected: u16,
        /// The one received.
        got: u16,
    },
    /// An answer about another management id than asked.
    WrongId {
        /// The id asked for.
        expected: u16,
        /// The id received.
        got: u16,
    },
    /// A data set of the wrong size.
    DataLength {
        /// The data set.
        id: ManagementId,
        /// Its size.
        expected: usize,
        /// What came.
        got: usize,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated { what, need, got } => {
                write!(
                    f,
                    "truncated message: {what} needs {need} bytes, {got} there"
                )
            }
            WireError::Oversized(len) => write!(
                f,
                "a {len}-byte datagram is over the {MAX_MESSAGE_LEN}-byte message limit"
            ),
            WireError::NotManagement(t) => {
                write!(f, "message type {t:#x} is not management (0xd)")
            }
            WireError::Version(v) => write!(f, "PTP version {v} is not 2"),
            WireError::LengthMismatch { header, datagram } => write!(
                f,
                "messageLength {header} does not fit the {datagram}-byte datagram"
            ),
            WireError::NotResponse(a) => write!(f, "action {a} is not RESPONSE (2)"),
            WireError::NotForUs(target) => write!(f, "message addressed to {target}, not to us"),
            WireError::UnexpectedTlv(t) => {
                write!(f, "unexpected TLV type {t:#06x} (wanted MANAGEMENT)")
            }
            WireError::BadTlvLength { length, room } => write!(
                f,
                "TLV length {length} does not fit the {room} bytes left in the message"
            ),
            WireError::WrongSequence { expected, got } => write!(
                f,
                "answer with sequence id {got} while {expected} was outstanding"
            ),
            WireError::WrongId { expected, got } => write!(
                f,
                "answer about management id {got:#06x}, asked for {expected:#06x}"
            ),
            WireError::DataLength { id, expected, got } => {
                write!(f, "{} of {got} bytes, expected {expected}", id.name())
            }
        }
    }
}

impl std::error::Error for WireError {}

/// The GET for `id`, sent from `source` with `sequence`.
pub fn encode_get(
    id: ManagementId,
    sequence: u16,
    domain: u8,
    source: PortIdentity,
) -> [u8; GET_LEN] {
    let mut buf = [0u8; GET_LEN];
    buf[0] = MESSAGE_TYPE_MANAGEMENT;
    buf[1] = PTP_VERSION;
    buf[2..4].copy_from_slice(&(GET_LEN as u16).to_be_bytes());
    buf[4] = domain;
    source.write(&mut buf[20..30]);
    buf[30..32].copy_from_slice(&sequence.to_be_bytes());
    buf[32] = CONTROL_MANAGEMENT;
    buf[33] = LOG_INTERVAL_NONE;
    PortIdentity::WILDCARD.write(&mut buf[34..44]);
    // Boundary hops 0 and 0: answered by the local ptp4l, not forwarded.
    buf[46] = ACTION_GET;
    buf[48..50].copy_from_slice(&TLV_MANAGEMENT.to_be_bytes());
    buf[50..52].copy_from_slice(&2u16.to_be_bytes());
    buf[52..54].copy_from_slice(&id.code().to_be_bytes());
    buf
}

/// What a response carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// A MANAGEMENT TLV: the id and its data field.
    Data {
        /// managementId.
        id: u16,
        /// The data set.
        data: Vec<u8>,
    },
    /// A MANAGEMENT_ERROR_STATUS TLV.
    Error {
        /// managementErrorId (Table 72; see [`error_name`]).
        error_id: u16,
        /// The managementId the error is about.
        id: u16,
    },
}

/// A decoded RESPONSE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The answering port.
    pub source: PortIdentity,
    /// The request's sequence id, echoed.
    pub sequence: u16,
    /// The first TLV.
    pub body: Body,
}

fn be16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

fn be32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

fn be64(buf: &[u8], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&buf[at..at + 8]);
    u64::from_be_bytes(bytes)
}

fn port_identity(buf: &[u8], at: usize) -> PortIdentity {
    let mut clock = [0u8; 8];
    clock.copy_from_slice(&buf[at..at + 8]);
    PortIdentity {
        clock,
        port: be16(buf, at + 8),
    }
}

fn need(what: &'static str, need: usize, got: usize) -> Result<(), WireError> {
    if got < need {
        Err(WireError::Truncated { what, need, got })
    } else {
        Ok(())
    }
}

/// Decodes a datagram as a RESPONSE addressed to `us`. Only the first TLV
/// is read (ptp4l may append an authentication TLV after it).
pub fn decode_response(datagram: &[u8], us: PortIdentity) -> Result<Response, WireError> {
    if datagram.len() > MAX_MESSAGE_LEN {
        return Err(WireError::Oversized(datagram.len()));
    }
    need(
        "the management header",
        MANAGEMENT_HEADER_LEN,
        datagram.len(),
    )?;
    let message_type = datagram[0] & 0x0F;
    if message_type != MESSAGE_TYPE_MANAGEMENT {
        return Err(WireError::NotManagement(message_type));
    }
    let version = datagram[1] & 0x0F;
    if version != PTP_VERSION {
        return Err(WireError::Version(version));
    }
    let length = usize::from(be16(datagram, 2));
    if length < MANAGEMENT_HEADER_LEN || length > datagram.len() {
        return Err(WireError::LengthMismatch {
            header: length,
            datagram: datagram.len(),
        });
    }
    let message = &datagram[..length];

    let action = message[46] & 0x0F;
    if action != ACTION_RESPONSE {
        return Err(WireError::NotResponse(action));
    }
    let target = port_identity(message, 34);
    let addressed = (target.clock == us.clock || target.clock == [0xFF; 8])
        && (target.port == us.port || target.port == 0xFFFF);
    if !addressed {
        return Err(WireError::NotForUs(target));
    }
    let source = port_identity(message, 20);
    let sequence = be16(message, 30);

    let tlvs = &message[MANAGEMENT_HEADER_LEN..];
    need("a TLV header", 4, tlvs.len())?;
    let tlv_type = be16(tlvs, 0);
    let tlv_length = usize::from(be16(tlvs, 2));
    let room = tlvs.len() - 4;
    if tlv_length > room || tlv_length < 2 {
        return Err(WireError::BadTlvLength {
            length: tlv_length,
            room,
        });
    }
    let value = &tlvs[4..4 + tlv_length];
    let body = match tlv_type {
        TLV_MANAGEMENT => Body::Data {
            id: be16(value, 0),
            data: value[2..].to_vec(),
        },
        TLV_MANAGEMENT_ERROR_STATUS => {
            need("MANAGEMENT_ERROR_STATUS", 4, value.len())?;
            Body::Error {
                error_id: be16(value, 0),
                id: be16(value, 2),
            }
        }
        other => return Err(WireError::UnexpectedTlv(other)),
    };
    Ok(Response {
        source,
        sequence,
        body,
    })
}

/// The name of a managementErrorId (IEEE 1588-2008 Table 72).
pub fn error_name(error_id: u16) -> &'static str {
    match error_id {
        0x0001 => "RESPONSE_TOO_BIG",
        0x0002 => "NO_SUCH_ID",
        0x0003 => "WRONG_LENGTH",
        0x0004 => "WRONG_VALUE",
        0x0005 => "NOT_SETABLE",
        0x0006 => "NOT_SUPPORTED",
        0xFFFE => "GENERAL_ERROR",
        _ => "an unknown error",
    }
}

fn exact(id: ManagementId, data: &[u8], size: usize) -> Result<(), WireError> {
    if data.len() != size {
        return Err(WireError::DataLength {
            id,
            expected: size,
            got: data.len(),
        });
    }
    Ok(())
}

/// TIME_STATUS_NP, 50 bytes:
///
/// ```text
///  0  8  master_offset, ns (signed): local clock minus grandmaster
///  8  8  ingress_time, ns (signed), on the local clock; 0 = none
/// 16  4  cumulativeScaledRateOffset
/// 20  4  scaledLastGmPhaseChange
/// 24  2  gmTimeBaseIndicator
/// 26 12  lastGmPhaseChange (ScaledNs)
/// 38  4  gmPresent (0 or 1)
/// 42  8  gmIdentity
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeStatusNp {
    /// Local clock minus grandmaster at the last measurement, ns.
    pub master_offset_ns: i64,
    /// When that measurement's Sync arrived, ns on the local clock (for
    /// software timestamping: `CLOCK_REALTIME`); 0 when there is none.
    pub ingress_time_ns: i64,
    /// Whether ptp4l follows a grandmaster other than itself.
    pub gm_present: bool,
    /// The grandmaster's identity.
    pub gm_identity: [u8; 8],
}

impl TimeStatusNp {
    /// Size of the data set.
    pub const LEN: usize = 50;

    /// Parses the data field.
    pub fn parse(data: &[u8]) -> Result<Self, WireError> {
        exact(ManagementId::TimeStatusNp, data, Self::LEN)?;
        let mut gm_identity = [0u8; 8];
        gm_identity.copy_from_slice(&data[42..50]);
        Ok(TimeStatusNp {
            master_offset_ns: be64(data, 0) as i64,
            ingress_time_ns: be64(data, 8) as i64,
            gm_present: be32(data, 38) != 0,
            gm_identity,
        })
    }
}

/// CURRENT_DATA_SET, 18 bytes:
///
/// ```text
///  0  2  stepsRemoved
///  2  8  offsetFromMaster (TimeInterval: ns * 2^16, signed)
/// 10  8  meanPathDelay (TimeInterval)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CurrentDataSet {
    /// Hops to the grandmaster.
    pub steps_removed: u16,
    /// offsetFromMaster, ns * 2^16.
    pub offset_scaled: i64,
    /// meanPathDelay, ns * 2^16.
    pub mean_path_delay_scaled: i64,
}

impl CurrentDataSet {
    /// Size of the data set.
    pub const LEN: usize = 18;

    /// Parses the data field.
    pub fn parse(data: &[u8]) -> Result<Self, WireError> {
        exact(ManagementId::CurrentDataSet, data, Self::LEN)?;
        Ok(CurrentDataSet {
            steps_removed: be16(data, 0),
            offset_scaled: be64(data, 2) as i64,
            mean_path_delay_scaled: be64(data, 10) as i64,
        })
    }

    /// meanPathDelay in ns, rounded up (towards +infinity): the value that
    /// goes into a bound.
    pub fn mean_path_delay_ns_ceil(&self) -> i64 {
        scaled_ns_ceil(self.mean_path_delay_scaled)
    }
}

/// A TimeInterval (ns * 2^16) in ns, rounded towards +infinity.
pub fn scaled_ns_ceil(scaled: i64) -> i64 {
    let whole = scaled.div_euclid(1 << 16);
    if scaled.rem_euclid(1 << 16) != 0 {
        whole + 1
    } else {
        whole
    }
}

/// PARENT_DATA_SET, 32 bytes:
///
/// ```text
///  0 10  parentPortIdentity
/// 10  1  parentStats
/// 11  1  reserved
/// 12  2  observedParentOffsetScaledLogVariance
/// 14  4  observedParentClockPhaseChangeRate
/// 18  1  grandmasterPriority1
/// 19  1  grandmasterClockQuality.clockClass
/// 20  1  grandmasterClockQuality.clockAccuracy
/// 21  2  grandmasterClockQuality.offsetScaledLogVariance
/// 23  1  grandmasterPriority2
/// 24  8  grandmasterIdentity
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParentDataSet {
    /// The port this clock follows.
    pub parent: PortIdentity,
    /// The grandmaster's clockClass.
    pub gm_clock_class: u8,
    /// The grandmaster's clockAccuracy code (see [`clock_accuracy_ns`]).
    pub gm_clock_accuracy: u8,
    /// The grandmaster's identity.
    pub gm_identity: [u8; 8],
}

impl ParentDataSet {
    /// Size of the data set.
    pub const LEN: usize = 32;

    /// Parses the data field.
    pub fn parse(data: &[u8]) -> Result<Self, WireError> {
        exact(ManagementId::ParentDataSet, data, Self::LEN)?;
        let mut gm_identity = [0u8; 8];
        gm_identity.copy_from_slice(&data[24..32]);
        Ok(ParentDataSet {
            parent: port_identity(data, 0),
            gm_clock_class: data[19],
            gm_clock_accuracy: data[20],
            gm_identity,
        })
    }
}

/// TIME_PROPERTIES_DATA_SET, 4 bytes:
///
/// ```text
/// 0  2  currentUtcOffset (signed, s)
/// 2  1  flags: 0x01 leap61, 0x02 leap59, 0x04 currentUtcOffsetValid,
///       0x08 ptpTimescale, 0x10 timeTraceable, 0x20 frequencyTraceable
/// 3  1  timeSource
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeProperties {
    /// TAI - UTC, s, as the grandmaster announces it.
    pub current_utc_offset_s: i16,
    /// The flag bits.
    pub flags: u8,
    /// timeSource (0x20 GPS, 0xA0 internal oscillator, ...).
    pub time_source: u8,
}

impl TimeProperties {
    /// Size of the data set.
    pub const LEN: usize = 4;
    /// The last minute of the UTC day has 61 seconds.
    pub const LEAP_61: u8 = 0x01;
    /// The last minute of the UTC day has 59 seconds.
    pub const LEAP_59: u8 = 0x02;
    /// currentUtcOffset is known to be right.
    pub const UTC_OFFSET_VALID: u8 = 0x04;
    /// The grandmaster's time is PTP (TAI-based), not arbitrary.
    pub const PTP_TIMESCALE: u8 = 0x08;
    /// The grandmaster's time is traceable to a primary reference.
    pub const TIME_TRACEABLE: u8 = 0x10;

    /// Parses the data field.
    pub fn parse(data: &[u8]) -> Result<Self, WireError> {
        exact(ManagementId::TimePropertiesDataSet, data, Self::LEN)?;
        Ok(TimeProperties {
            current_utc_offset_s: be16(data, 0) as i16,
            flags: data[2],
            time_source: data[3],
        })
    }

    /// Whether flag bit `flag` is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// The bound a clockAccuracy code promises, ns, rounded up; `None` for
/// "unknown" (0xFE), "beyond 10 s" (0x31) and reserved codes.
///
/// The table is IEEE 1588-2008 Table 6 (0x20 "within 25 ns" to 0x31
/// "greater than 10 s"), with the finer codes IEEE 1588-2019 Table 5 added
/// below it (0x17 "within 1 ps" to 0x1F "within 10 ns"); a bound below a
/// nanosecond is rounded up to 1 ns.
pub fn clock_accuracy_ns(code: u8) -> Option<i64> {
    let ns = match code {
        0x17..=0x1D => 1,
        0x1E => 3,
        0x1F => 10,
        0x20 => 25,
        0x21 => 100,
        0x22 => 250,
        0x23 => 1_000,
        0x24 => 2_500,
        0x25 => 10_000,
        0x26 => 25_000,
        0x27 => 100_000,
        0x28 => 250_000,
        0x29 => 1_000_000,
        0x2A => 2_500_000,
        0x2B => 10_000_000,
        0x2C => 25_000_000,
        0x2D => 100_000_000,
        0x2E => 250_000_000,
        0x2F => 1_000_000_000,
        0x30 => 10_000_000_000,
        _ => return None,
    };
    Some(ns)
}

#[cfg(test)]
mod tests;
