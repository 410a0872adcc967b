import Kernels

extension ExactAllReduce {
    /// A run of the terms' layout with collectives of its own.
    struct Group {
        /// Where the group lies in a term's layout (the extra values, then the blocks').
        let values: Range<Int>
        /// The group's blocks, counted from `values.lowerBound`, in the round's encoding.
        let sum: BlockExactSum

        /// How a term's layout (`extras` values, then `blocks`) splits into groups: the main one
        /// (the extra values, each a block of its own, and the blocks before the first early
        /// group), then one from each of `earlyStarts` (a block's start, decreasing; the first
        /// runs to the end of the blocks) to the one before, in the order they become final.
        static func schedule(blocks: [Range<Int>], earlyStarts: [Int], extras: Int,
                             encoding: BlockExactSum.Encoding) -> [Group] {
            let count = blocks.last?.upperBound ?? 0
            precondition(zip([count] + earlyStarts, earlyStarts).allSatisfy { $0 > $1 } && earlyStarts.allSatisfy { start in
                blocks.contains { $0.lowerBound == start } && start > 0
            }, "early groups must start at blocks, in decreasing order, after the first block")
            let ends = [earlyStarts.last ?? count] + ([count] + earlyStarts).dropLast()
            let starts = [0] + earlyStarts
            return zip(starts, ends).enumerated().map { g, bounds in
                let lower = g == 0 ? 0 : extras + bounds.0, upper = extras + bounds.1
                var ranges = blocks.filter { $0.lowerBound >= bounds.0 && $0.upperBound <= bounds.1 }
                    .map { ($0.lowerBound + extras)..<($0.upperBound + extras) }
                if g == 0 { ranges = (0..<extras).map { $0..<($0 + 1) } + ranges }
                let local = ranges.map { ($0.lowerBound - lower)..<($0.upperBound - lower) }
                return Group(values: lower..<upper, sum: BlockExactSum(blocks: local, encoding: encoding))
            }
        }
    }
}
