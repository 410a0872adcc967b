import Kernels

/// One setting of a training run, declared once (in `TrainingConfiguration.settings`): its
/// flag and help, its checkpoint key, how a resume treats it, its check and how it is shown.
/// The command line's help, the checkpoint's metadata, the resume's refusals, the validation
/// and the settings of the report, `vae inspect` and TensorBoard are all derived from these.
public struct RunSetting: Sendable {
    /// How a setting takes part in a resumed run. A resume takes every saved setting from the
    /// checkpoint unless its flag is given.
    public enum Role: Sendable, Equatable {
        /// The tensors' shapes depend on it: a resume with another value is always refused.
        case shape
        /// It changes the run's numbers: a resume with another value is refused unless the
        /// user passes --allow-config-change.
        case identity
        /// How long the run goes and how it saves and scores itself: a resume may change it.
        case plan
        /// This process's own, not saved (results do not depend on it).
        case local
    }

    /// As messages, the report, `vae inspect` and TensorBoard name it, e.g. "batch size".
    public let name: String
    /// The command-line flag without its dashes, e.g. "batch-size".
    public let flag: String
    /// The checkpoint metadata's key; nil for a `.local` setting.
    public let key: String?
    public let role: Role
    /// The flag's help, with its default.
    public let help: String
    /// Whether the report, `vae inspect` and TensorBoard list it among the run's settings.
    public let shown: Bool
    /// Whether checkpoints written before the setting existed lack its key: there it reads as
    /// the default.
    let addedLater: Bool

    /// The value as the checkpoint records it and the report shows it; it reads back exactly.
    public let text: @Sendable (TrainingConfiguration) -> String
    /// Sets the value from its text; false if the text is not one.
    public let read: @Sendable (String, inout TrainingConfiguration) -> Bool
    /// What the value must be, as "--flag must be ..." ends, and whether it is.
    public let requirement: String
    let holds: @Sendable (TrainingConfiguration) -> Bool
    /// What the text must be, for a checkpoint's message ("a number").
    let kind: String

    public static func declare<Value: SettingValue>(
        _ path: WritableKeyPath<TrainingConfiguration, Value> & Sendable, _ name: String, flag: String, key: String?,
        role: Role, shown: Bool, must rule: Rule<Value>, help: String, defaultHelp: String? = nil, addedLater: Bool = false
    ) -> RunSetting {
        let initial = TrainingConfiguration.defaults[keyPath: path]
        let resumed = role == .plan ? ", or a resumed run's own" : ""
        let shownDefault = defaultHelp ?? initial.settingText
        return RunSetting(
            name: name, flag: flag, key: key, role: role,
            help: shownDefault.isEmpty ? help : "\(help) (default: \(shownDefault)\(resumed))",
            shown: shown, addedLater: addedLater,
            text: { $0[keyPath: path].settingText },
            read: { text, c in
                guard let value = Value(settingText: text) else { return false }
                c[keyPath: path] = value
                return true
            },
            requirement: rule.requirement, holds: { rule.holds($0[keyPath: path]) }, kind: Value.kind)
    }

    /// Whether `text` is a value of this setting that its rule accepts.
    public func accepts(_ text: String) -> Bool {
        var c = TrainingConfiguration()
        return read(text, &c) && holds(c)
    }

    /// The one-line complaint about `c`'s value, nil if it is fine.
    func problem(_ c: TrainingConfiguration) -> String? {
        holds(c) ? nil : "--\(flag) must be \(requirement) (got \(text(c)))"
    }

    /// What a value must be.
    public struct Rule<Value>: Sendable {
        let requirement: String
        let holds: @Sendable (Value) -> Bool
    }
}

extension RunSetting.Rule where Value == Int {
    public static func atLeast(_ low: Int) -> Self { .init(requirement: "at least \(low)") { $0 >= low } }
    public static func between(_ low: Int, _ high: Int) -> Self {
        .init(requirement: "between \(low) and \(high)") { $0 >= low && $0 <= high }
    }
}

extension RunSetting.Rule where Value == Int? {
    /// None, or at least `low`.
    public static func atLeast(_ low: Int) -> Self { .init(requirement: "at least \(low)") { $0.map { $0 >= low } ?? true } }
}

extension RunSetting.Rule where Value == Float {
    public static var positive: Self { .init(requirement: "a positive number") { $0.isFinite && $0 > 0 } }
    public static func between(_ low: Int, _ high: Int) -> Self {
        .init(requirement: "between \(low) and \(high)") { $0.isFinite && $0 >= Float(low) && $0 <= Float(high) }
    }
}

extension RunSetting.Rule {
    /// Every value of the type is fine.
    public static var any: Self { .init(requirement: "", holds: { _ in true }) }
}

/// A type a setting's value can have: written as text into a checkpoint's metadata (whose
/// format holds strings only) and read back exactly.
public protocol SettingValue: Sendable {
    var settingText: String { get }
    init?(settingText: String)
    /// What a text must be, for a message ("a number").
    static var kind: String { get }
}

extension SettingValue where Self: LosslessStringConvertible {
    // `description` of Int, UInt64 and Float reads back exactly (Float's is the shortest that does).
    public var settingText: String { description }
    public init?(settingText: String) { self.init(settingText) }
    public static var kind: String { "a number" }
}

extension SettingValue where Self: RawRepresentable, RawValue == String, Self: CaseIterable {
    public var settingText: String { rawValue }
    public init?(settingText: String) { self.init(rawValue: settingText) }
    public static var kind: String { "one of " + allCases.map(\.rawValue).joined(separator: ", ") }
}

extension Precision: SettingValue {}
extension Int: SettingValue {}
extension UInt64: SettingValue {}
extension Float: SettingValue {}

/// None is "none".
extension Optional: SettingValue where Wrapped: SettingValue {
    public var settingText: String { map(\.settingText) ?? "none" }
    public init?(settingText: String) {
        if settingText == "none" {
            self = .none
        } else if let value = Wrapped(settingText: settingText) {
            self = value
        } else {
            return nil
        }
    }
    public static var kind: String { Wrapped.kind }
}
