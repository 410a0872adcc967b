import Dispatch
import Kernels

extension ExactAllReduce {
    /// One thread's terms of a round, held until the exponents are agreed on.
    public final class Part {
        let shares: [Share]
        private let groups: [Group]
        private let terms: UnsafeMutablePointer<Float>
        private let capacity: Int, extras: Int, width: Int
        private var held = 0

        init(groups: [Group], capacity: Int, extras: Int) {
            self.groups = groups
            self.capacity = capacity
            self.extras = extras
            width = groups.map(\.values.upperBound).max()!
            shares = groups.map { Share(sum: $0.sum) }
            terms = .allocate(capacity: capacity * width)
        }

        deinit { terms.deallocate() }

        func start() {
            held = 0
            for share in shares {
                share.exponents = share.sum.noExponents
                share.failed = false
                share.isFinal = false
                share.sum.reset()
            }
        }

        /// Whether the part holds all the terms it has room for.
        public var isFull: Bool { held == capacity }

        /// Room for the next term, to be filled and then given to `add`.
        public func nextTerm() -> Term {
            precondition(held < capacity, "more terms than a part holds")
            held += 1
            return Term(storage: terms + (held - 1) * width, extras: extras)
        }

        /// Takes `term` into the round. False, and the part is failed, when one of its values is
        /// not finite or too large: the caller stops filling terms.
        public func add(_ term: Term) -> Bool {
            for g in groups.indices where !shares[g].isFinal { cover(g, of: term) }
            return !shares.contains(where: \.failed)
        }

        /// Says that `term`, this part's last of the round, will not change from value `start`
        /// on (a block's start): the early groups there are covered and can be summed now.
        public func finalValues(from start: Int, of term: Term) {
            for g in groups.indices.dropFirst() where !shares[g].isFinal && groups[g].values.lowerBound >= start + extras {
                cover(g, of: term)
                finish(g)
            }
        }

        /// Says that the part's thread is done with the round: every group is final, and the
        /// early ones can be summed while other parts still compute.
        public func finish() {
            for g in groups.indices where !shares[g].isFinal { finish(g) }
        }

        private func cover(_ g: Int, of term: Term) {
            if !shares[g].sum.cover(term.storage + groups[g].values.lowerBound, exponents: &shares[g].exponents) {
                shares[g].failed = true
            }
        }

        private func finish(_ g: Int) {
            shares[g].isFinal = true
            if g > 0 { shares[g].final.signal() }
        }

        func addHeld(group g: Int, exponents: [Int64]) {
            let start = groups[g].values.lowerBound
            for slot in 0..<held { shares[g].sum.add(terms + slot * width + start, exponents: exponents) }
        }
    }

    /// One part's share of a group: touched by the part's thread until it is final, then by the
    /// thread that reduces the group.
    final class Share {
        var sum: BlockExactSum
        /// The exponents that cover this part's terms so far.
        var exponents: [Int64]
        var failed = false
        /// Signalled once a round, when the part's terms will not change in this group.
        let final = DispatchSemaphore(value: 0)
        var isFinal = false

        init(sum: BlockExactSum) {
            self.sum = sum
            exponents = sum.noExponents
        }
    }

    /// One term: the blocks' values, and the extra values.
    public struct Term {
        /// The extra values, then the blocks'.
        let storage: UnsafeMutablePointer<Float>
        let extras: Int
        /// The blocks' values: `count` floats.
        public var values: UnsafeMutablePointer<Float> { storage + extras }

        public subscript(extra: Extra) -> Float {
            get { storage[extra.rawValue] }
            nonmutating set { storage[extra.rawValue] = newValue }
        }
    }
}
