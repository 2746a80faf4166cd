/** One column of a table: its header and how a row shows in it. */
export interface Column<Row> {
  header: string;
  value: (row: Row) => string;
  /** Longest cell, characters; longer values end in `…`. Unlimited by default. */
  maxWidth?: number;
}

/** What every command accepts about its output. */
export interface OutputOptions {
  /** Machine-readable JSON on stdout instead of a table; human notes stay on stderr. */
  json?: boolean;
}

const clip = (text: string, maxWidth: number | undefined): string =>
  maxWidth === undefined || [...text].length <= maxWidth ? text : `${[...text].slice(0, maxWidth - 1).join('')}…`;

// Control characters in stored values (a user agent is whatever the client sent) must not reach the terminal.
const printable = (text: string): string => text.replace(/\p{Cc}/gu, '?');

/** Formats rows as a plain-text table with a header line, columns padded to their widest cell. */
export function formatTable<Row>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
  const cells = rows.map((row) => columns.map((column) => clip(printable(column.value(row)), column.maxWidth)));
  const widths = columns.map((column, index) =>
    Math.max([...column.header].length, ...cells.map((line) => [...(line[index] ?? '')].length)),
  );
  const line = (values: readonly string[]): string =>
    values
      .map((value, index) => value + ' '.repeat((widths[index] ?? 0) - [...value].length))
      .join('  ')
      .trimEnd();
  return [line(columns.map((column) => column.header)), ...cells.map(line)].join('\n');
}

/** Writes a table to stdout. */
export function printTable<Row>(rows: readonly Row[], columns: readonly Column<Row>[]): void {
  console.log(formatTable(rows, columns));
}

/** Writes a value as indented JSON to stdout (dates become ISO 8601 strings): the only stdout output under `--json`. */
export function printJSON(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** Writes a human note or progress line to stderr, so stdout stays parseable. */
export function note(message: string): void {
  console.error(message);
}

/** A time for a table cell: UTC, to the second; `-` when there is none. */
export function formatTime(date: Date | null): string {
  return date === null ? '-' : `${date.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}
