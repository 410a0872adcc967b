import Foundation

/// Points coloured by class, e.g. a latent space coloured by digit, as SVG.
public struct ScatterPlot: Sendable {
    public struct Point: Equatable, Sendable {
        public var x: Double
        public var y: Double
        /// An index into the plot's `classNames`.
        public var classIndex: Int

        /// Takes Float (the model's latent values) as well as Double.
        public init<T: BinaryFloatingPoint>(x: T, y: T, classIndex: Int) {
            (self.x, self.y, self.classIndex) = (Double(x), Double(y), classIndex)
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    /// Drawn in order, so a later point covers an earlier one; points with a coordinate that is
    /// not finite are left out.
    public var points: [Point]
    /// The legend's entries, one per class, at most 10 (the palette's size).
    public var classNames: [String]
    public var width = 640.0
    public var height = 560.0
    public var pointRadius = 1.6

    public init(title: String, xLabel: String, yLabel: String, points: [Point],
                classNames: [String] = (0...9).map(String.init)) {
        (self.title, self.xLabel, self.yLabel) = (title, xLabel, yLabel)
        (self.points, self.classNames) = (points, classNames)
    }

    public func svg() -> String {
        precondition(classNames.count <= qualitativeColours.count,
                     "ScatterPlot: \(classNames.count) classes, but only \(qualitativeColours.count) colours")
        let visible = points.filter { $0.x.isFinite && $0.y.isFinite }
        if let stray = visible.first(where: { !classNames.indices.contains($0.classIndex) }) {
            preconditionFailure("ScatterPlot: class index \(stray.classIndex) has no name among \(classNames.count)")
        }
        let frame = PlotFrame(width: width, height: height, title: title, xLabel: xLabel, yLabel: yLabel,
                              xRange: finiteRange(visible.lazy.map(\.x)), yRange: finiteRange(visible.lazy.map(\.y)),
                              legendNames: classNames)
        // One short class attribute per point keeps ten thousand points compact while drawing
        // them in data order, so that no class systematically hides another.
        let style = classNames.indices.map { ".c\($0){fill:\(qualitativeColours[$0])}\n" }.joined()
        var svg = frame.opening(style: style)
        let radius = svgNumber(pointRadius)
        svg += "<g class=\"points\" fill-opacity=\"0.75\">\n"
        for point in visible {
            svg += "<circle class=\"c\(point.classIndex)\" cx=\"\(svgNumber(frame.px(point.x)))\" "
                + "cy=\"\(svgNumber(frame.py(point.y)))\" r=\"\(radius)\"/>\n"
        }
        svg += "</g>\n"
        return svg + frame.closing { index, x, y in
            "<circle class=\"c\(index)\" cx=\"\(svgNumber(x))\" cy=\"\(svgNumber(y))\" r=\"4.5\"/>\n"
        }
    }

    public func write(to url: URL) throws {
        try writeMediaFile(Array(svg().utf8), to: url)
    }
}
