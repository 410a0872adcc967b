import Foundation

/// Named series of (x, y), e.g. train and test loss per epoch, as SVG.
public struct LinePlot: Sendable {
    public struct Series: Equatable, Sendable {
        public var name: String
        public var x: [Double]
        public var y: [Double]

        public init(name: String, x: [Double], y: [Double]) {
            precondition(x.count == y.count, "LinePlot.Series \(name): \(x.count) x values but \(y.count) y values")
            (self.name, self.x, self.y) = (name, x, y)
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    /// At most 10 (the palette's size); a point with a coordinate that is not finite is left out.
    public var series: [Series]
    public var width = 640.0
    public var height = 400.0
    /// Series with at most this many points also get a dot at each point, so that short runs
    /// (a single epoch included) are visible.
    public var markerLimit = 50
    /// Ticks on the x axis at whole numbers only (epochs, steps).
    public var wholeXSteps = false

    public init(title: String, xLabel: String, yLabel: String, series: [Series]) {
        (self.title, self.xLabel, self.yLabel, self.series) = (title, xLabel, yLabel, series)
    }

    public func svg() -> String {
        precondition(series.count <= qualitativeColours.count,
                     "LinePlot: \(series.count) series, but only \(qualitativeColours.count) colours")
        let visible = series.map { line in
            zip(line.x, line.y).filter { $0.0.isFinite && $0.1.isFinite }
        }
        let frame = PlotFrame(width: width, height: height, title: title, xLabel: xLabel, yLabel: yLabel,
                              xRange: finiteRange(visible.joined().lazy.map(\.0)),
                              yRange: finiteRange(visible.joined().lazy.map(\.1)),
                              legendNames: series.map(\.name), wholeXSteps: wholeXSteps)
        let style = series.indices.map {
            ".s\($0){stroke:\(qualitativeColours[$0]);stroke-width:2;fill:none;stroke-linejoin:round}"
                + ".c\($0){fill:\(qualitativeColours[$0])}\n"
        }.joined()
        var svg = frame.opening(style: style)
        for (index, points) in visible.enumerated() {
            let coordinates = points.map { "\(svgNumber(frame.px($0.0))),\(svgNumber(frame.py($0.1)))" }
            svg += "<polyline class=\"s\(index)\" points=\"\(coordinates.joined(separator: " "))\"/>\n"
        }
        for (index, points) in visible.enumerated() where points.count <= markerLimit {
            svg += "<g class=\"markers\">\n"
            for (x, y) in points {
                svg += "<circle class=\"c\(index)\" cx=\"\(svgNumber(frame.px(x)))\" cy=\"\(svgNumber(frame.py(y)))\" r=\"2.5\"/>\n"
            }
            svg += "</g>\n"
        }
        return svg + frame.closing { index, x, y in
            "<path class=\"s\(index)\" d=\"M\(svgNumber(x - 9)) \(svgNumber(y))h18\"/>\n"
        }
    }

    public func write(to url: URL) throws {
        try writeMediaFile(Array(svg().utf8), to: url)
    }
}
