import Foundation

/// Every failure of a store names the key (or location) it concerns and, for system errors,
/// the errno text, e.g. `cannot write "red/c/0/1/2" in /data/cube.zarr: No space left on device (errno 28)`.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// The key is not a safe relative "/"-separated path.
    case invalidKey(key: String, reason: String)
    /// A system call failed while doing `operation` ("read", "write", "create", "list", "delete").
    case io(operation: String, key: String, store: String, errno: Int32, message: String)
    /// The location names a kind of store this build does not support.
    case unsupported(location: String, reason: String)
    /// An object store refused or failed a request (after retries), e.g. 403 or 503.
    case remote(operation: String, key: String, store: String, message: String)

    public var description: String {
        switch self {
        case let .invalidKey(key, reason):
            return "invalid store key \(Self.quoted(key)): \(reason)"
        case let .io(operation, key, store, code, message):
            return "cannot \(operation) \(Self.quoted(key)) in \(store): \(message) (errno \(code))"
        case let .unsupported(location, reason):
            return "unsupported store location \(Self.quoted(location)): \(reason)"
        case let .remote(operation, key, store, message):
            return "cannot \(operation) \(Self.quoted(key)) in \(store): \(message)"
        }
    }

    public var errorDescription: String? { description }

    /// The errno of a system failure, if this is one (ENOSPC, EACCES, ...).
    public var errno: Int32? {
        if case let .io(_, _, _, code, _) = self { return code }
        return nil
    }

    /// Quotes with control characters escaped, so an invalid key never garbles a log line.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else if scalar == "\"" || scalar == "\\" {
                out += "\\\(scalar)"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
