import { Box, Typography } from '@mui/material';

export interface SparklineProps {
  /** Oldest first. */
  values: readonly number[];
  /** What the line shows, e.g. "Commands per second". */
  label: string;
  width?: number;
  height?: number;
  format?: (value: number) => string;
}

const PAD = 3;

/**
 * Where each value is drawn in a `width` × `height` box: evenly spaced left to right, scaled
 * between zero (or the lowest value, if negative) and the highest value.
 */
export function sparklinePoints(values: readonly number[], width: number, height: number): Array<[number, number]> {
  const finite = values.filter((value) => Number.isFinite(value));
  if (finite.length === 0) return [];
  const low = Math.min(0, ...finite);
  const high = Math.max(...finite);
  const span = high - low;
  const innerWidth = width - 2 * PAD;
  const innerHeight = height - 2 * PAD;
  const step = finite.length > 1 ? innerWidth / (finite.length - 1) : 0;
  return finite.map((value, index) => {
    const x = finite.length > 1 ? PAD + index * step : width / 2;
    const y = span === 0 ? height - PAD : height - PAD - ((value - low) / span) * innerHeight;
    return [round(x), round(y)];
  });
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

const plain = (value: number) => String(Math.round(value * 100) / 100);

/** A small line chart of a recent series, drawn as inline SVG. */
export function Sparkline({ values, label, width = 240, height = 48, format = plain }: SparklineProps) {
  const points = sparklinePoints(values, width, height);
  const finite = values.filter((value) => Number.isFinite(value));
  const last = finite[finite.length - 1];
  const high = finite.length > 0 ? Math.max(...finite) : undefined;
  const description =
    last === undefined || high === undefined
      ? `${label}: no data yet`
      : `${label}: now ${format(last)}, highest ${format(high)} over ${points.length} samples`;
  const end = points[points.length - 1];

  return (
    <Box component="figure" sx={{ m: 0 }}>
      <Box
        component="svg"
        role="img"
        aria-label={description}
        width={width}
        height={height}
        viewBox={`0 0 ${width} ${height}`}
        sx={{ display: 'block', color: 'primary.main', maxWidth: '100%' }}
      >
        <line x1={PAD} x2={width - PAD} y1={height - PAD} y2={height - PAD} stroke="currentColor" strokeOpacity={0.25} strokeDasharray={points.length === 0 ? '4 4' : undefined} />
        {points.length > 1 && (
          <polyline
            data-testid="sparkline-line"
            points={points.map(([x, y]) => `${x},${y}`).join(' ')}
            fill="none"
            stroke="currentColor"
            strokeWidth={1.5}
            strokeLinejoin="round"
            strokeLinecap="round"
          />
        )}
        {end && <circle cx={end[0]} cy={end[1]} r={2.5} fill="currentColor" />}
      </Box>
      <Typography component="figcaption" variant="caption" color="text.secondary">
        {label}: {last === undefined ? 'no data yet' : format(last)}
      </Typography>
    </Box>
  );
}
