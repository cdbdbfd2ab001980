/// A calendar date as stored in a row (`0000-00-00` and other zero parts are legal in MySQL).
public struct MySQLDate: Sendable, Hashable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int
    public var description: String { "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))" }
}

/// A time of day or a duration: `[-]HH:MM:SS[.ffffff]` with at least two hour digits.
public struct MySQLTime: Sendable, Hashable, CustomStringConvertible {
    public var negative: Bool
    public var hours: Int
    public var minutes: Int
    public var seconds: Int
    public var microseconds: Int
    /// Fractional digits to print (the column's fsp).
    public var precision: Int
    public var description: String {
        (negative ? "-" : "") + "\(pad(hours, 2)):\(pad(minutes, 2)):\(pad(seconds, 2))"
            + fraction(microseconds, precision)
    }
}

/// A DATETIME, or a TIMESTAMP converted to UTC: `YYYY-MM-DD HH:MM:SS[.ffffff]`.
public struct MySQLDateTime: Sendable, Hashable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int
    public var microseconds: Int
    public var precision: Int
    public var description: String {
        "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2)) \(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2))"
            + fraction(microseconds, precision)
    }

    /// A Unix timestamp in UTC (TIMESTAMP columns).
    public init(unixSeconds: Int64, microseconds: Int, precision: Int) {
        let days = unixSeconds >= 0 ? unixSeconds / 86400 : (unixSeconds - 86399) / 86400
        let secs = Int(unixSeconds - days * 86400)
        let (y, m, d) = civilFromDays(days)
        self.init(
            year: y, month: m, day: d, hour: secs / 3600, minute: (secs / 60) % 60, second: secs % 60,
            microseconds: microseconds, precision: precision)
    }

    public init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, microseconds: Int, precision: Int) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
        self.microseconds = microseconds
        self.precision = precision
    }

    /// Seconds since the epoch, reading the fields as UTC (for `--until-time`).
    public var unixSeconds: Int64 {
        Int64(daysFromCivil(year, month, day)) * 86400 + Int64(hour * 3600 + minute * 60 + second)
    }
}

/// Howard Hinnant's days-from-civil algorithms (proleptic Gregorian): (year, month, day) of a
/// day number counted from 1970-01-01, and back.
func civilFromDays(_ z0: Int64) -> (Int, Int, Int) {
    let z = z0 + 719468
    let era = (z >= 0 ? z : z - 146096) / 146097
    let doe = z - era * 146097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
    let y = yoe + era * 400
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    return (Int(y + (m <= 2 ? 1 : 0)), Int(m), Int(d))
}

func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
    let y = m <= 2 ? y0 - 1 : y0
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146097 + doe - 719468
}

@inline(__always)
func pad(_ v: Int, _ width: Int) -> String {
    let s = String(v)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}

func fraction(_ micros: Int, _ precision: Int) -> String {
    guard precision > 0 else { return "" }
    let all = pad(micros, 6)
    return "." + all.prefix(min(precision, 6))
}

/// One operation of a MySQL partial JSON update (PARTIAL_UPDATE_ROWS_EVENT).
public struct JSONDiff: Sendable, Hashable {
    public enum Operation: UInt8, Sendable, Hashable {
        case replace = 0
        case insert = 1
        case remove = 2
        public var name: String {
            switch self {
            case .replace: "REPLACE"
            case .insert: "INSERT"
            case .remove: "REMOVE"
            }
        }
    }
    public var operation: Operation
    public var path: String
    /// The new value (absent for REMOVE).
    public var value: JSONValue?
}

/// A decoded column value.
public enum ColumnValue: Sendable, Hashable {
    case null
    /// Signed integers (TINY…LONGLONG without UNSIGNED).
    case int(Int64)
    /// UNSIGNED integers.
    case uint(UInt64)
    case float(Float)
    case double(Double)
    /// DECIMAL, exactly as MySQL prints it (`-12.50`).
    case decimal(String)
    case year(Int)
    case date(MySQLDate)
    case time(MySQLTime)
    case datetime(MySQLDateTime)
    /// TIMESTAMP: seconds since the epoch and a fraction.
    case timestamp(seconds: UInt32, microseconds: Int, precision: Int)
    /// Text decoded from its character set.
    case string(String)
    /// Binary data, or bytes that are not valid text in their character set.
    case bytes([UInt8])
    case bit(UInt64)
    /// ENUM: 1-based index and, when the table map names the members, the member (index 0 is '').
    case enumValue(index: Int, name: String?)
    /// SET: bit mask and, when known, the member names.
    case setValue(mask: UInt64, names: [String]?)
    case json(JSONValue)
    case jsonDiff([JSONDiff])
    /// GEOMETRY in MySQL's internal format: 4-byte SRID then WKB.
    case geometry([UInt8])
    case vector([Float])

    /// The value as a number when it is one (integers, decimals, floats), for numeric comparisons.
    public var isNull: Bool { if case .null = self { true } else { false } }
}
