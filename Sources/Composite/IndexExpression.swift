/// A band-math expression (`(nir - red) / (nir + red)`) compiled once into a flat postfix
/// program, evaluated over contiguous runs of pixels: each instruction is one loop over a
/// block, on registers allocated once per thread, so there is no per-pixel work beyond the
/// arithmetic and no allocation.
///
/// Grammar (the usual precedence, left-associative, as Python and C read it):
/// `expr := term (("+" | "-") term)*`, `term := unary (("*" | "/") unary)*`,
/// `unary := ("-" | "+") unary | primary`, `primary := number | band | "(" expr ")"`.
/// A band name stands for that band's reflectance, stored value / 10000, in Float64.
public struct IndexProgram: Sendable, Equatable {
    enum Op: Sendable, Equatable {
        case band(Int)
        case constant(Double)
        case add, subtract, multiply, divide, negate
    }

    let ops: [Op]
    /// Registers the program needs at most.
    let depth: Int
    /// The expression it was compiled from.
    public let text: String

    /// Compiles `text` over the spec's band names (band i of the observations).
    public static func compile(_ text: String, bands: [String]) throws -> IndexProgram {
        var parser = Parser(text: Array(text.unicodeScalars), bands: bands)
        try parser.skipSpace()
        try parser.expression()
        guard parser.at >= parser.text.count else { throw parser.error("unexpected '\(parser.char)'") }
        var depth = 0, maxDepth = 0
        for op in parser.ops {
            switch op {
            case .band, .constant: depth += 1
            case .negate: break
            case .add, .subtract, .multiply, .divide: depth -= 1
            }
            maxDepth = max(maxDepth, depth)
        }
        return IndexProgram(ops: parser.ops, depth: maxDepth, text: text)
    }

    /// The band indices the program reads.
    public var bandsUsed: [Int] {
        ops.compactMap { if case .band(let b) = $0 { return b } else { return nil } }
    }

    /// Evaluates over `count` pixels: band b's values at `planes[b]`, the result (Float64, not
    /// yet checked for finiteness) into `out`; `registers` holds `depth × stride` doubles
    /// (`stride` ≥ count).
    func evaluate(planes: [UnsafePointer<UInt16>], count: Int, into out: UnsafeMutablePointer<Double>,
                  registers: UnsafeMutablePointer<Double>, stride: Int) {
        var top = 0
        for op in ops {
            switch op {
            case .band(let b):
                let r = registers + top &* stride, v = planes[b]
                for p in 0..<count { r[p] = Double(v[p]) / 10000 }
                top &+= 1
            case .constant(let c):
                (registers + top &* stride).update(repeating: c, count: count)
                top &+= 1
            case .negate:
                let r = registers + (top &- 1) &* stride
                for p in 0..<count { r[p] = -r[p] }
            case .add, .subtract, .multiply, .divide:
                let a = registers + (top &- 2) &* stride, b = registers + (top &- 1) &* stride
                switch op {
                case .add: for p in 0..<count { a[p] += b[p] }
                case .subtract: for p in 0..<count { a[p] -= b[p] }
                case .multiply: for p in 0..<count { a[p] *= b[p] }
                default: for p in 0..<count { a[p] /= b[p] }
                }
                top &-= 1
            }
        }
        out.update(from: registers, count: count)
    }

    /// Recursive descent straight into postfix order.
    struct Parser {
        let text: [Unicode.Scalar]
        let bands: [String]
        var at = 0
        var ops: [Op] = []
        var nesting = 0

        var char: Character { at < text.count ? Character(text[at]) : " " }

        func error(_ what: String, at position: Int? = nil) -> IndexExpressionError {
            IndexExpressionError(message: what, position: (position ?? at) + 1)
        }

        mutating func skipSpace() throws {
            while at < text.count, text[at] == " " || text[at] == "\t" { at += 1 }
        }

        mutating func expression() throws {
            try term()
            while at < text.count, text[at] == "+" || text[at] == "-" {
                let op: Op = text[at] == "+" ? .add : .subtract
                at += 1
                try skipSpace()
                try term()
                ops.append(op)
            }
        }

        mutating func term() throws {
            try unary()
            while at < text.count, text[at] == "*" || text[at] == "/" {
                let op: Op = text[at] == "*" ? .multiply : .divide
                at += 1
                guard at >= text.count || text[at] != "*" else { throw error("'**' (powers) is not supported", at: at - 1) }
                try skipSpace()
                try unary()
                ops.append(op)
            }
        }

        mutating func unary() throws {
            guard at < text.count, text[at] == "-" || text[at] == "+" else { return try primary() }
            let negative = text[at] == "-"
            at += 1
            try skipSpace()
            try unary()
            if negative { ops.append(.negate) }
        }

        mutating func primary() throws {
            guard at < text.count else { throw error("expected a band, a number or '(' at the end") }
            let start = at
            let c = text[at]
            if c == "(" {
                nesting += 1
                guard nesting <= 64 else { throw error("too deeply nested") }
                at += 1
                try skipSpace()
                try expression()
                guard at < text.count, text[at] == ")" else { throw error("expected ')'") }
                at += 1
                nesting -= 1
            } else if ("0"..."9").contains(c) || c == "." {
                while at < text.count, text[at].isASCII,
                      ("0"..."9").contains(text[at]) || text[at] == "." || text[at] == "e" || text[at] == "E"
                      || ((text[at] == "-" || text[at] == "+") && (text[at - 1] == "e" || text[at - 1] == "E")) {
                    at += 1
                }
                let literal = String(String.UnicodeScalarView(text[start..<at]))
                guard let v = Double(literal), v.isFinite else { throw error("'\(literal)' is not a number", at: start) }
                ops.append(.constant(v))
            } else if c.isASCII, c.properties.isAlphabetic || c == "_" {
                while at < text.count, text[at].isASCII, text[at].properties.isAlphabetic || text[at] == "_"
                      || ("0"..."9").contains(text[at]) {
                    at += 1
                }
                let name = String(String.UnicodeScalarView(text[start..<at]))
                guard let b = bands.firstIndex(of: name) else {
                    throw error("unknown band '\(name)' (bands: \(bands.joined(separator: ", ")))", at: start)
                }
                ops.append(.band(b))
            } else {
                throw error("unexpected '\(Character(c))'")
            }
            try skipSpace()
        }
    }
}

/// Why an expression does not compile, and where (1-based character position).
public struct IndexExpressionError: Error, Equatable, CustomStringConvertible {
    public let message: String
    public let position: Int

    public var description: String { "\(message) at position \(position)" }
}
