import { CtlExit, ExitCode } from '../exit.js';
import { FieldsPrinter } from './fields.js';
import { JsonPrinter } from './json.js';
import type { Printer, PrinterContext } from './printer.js';
import { ProtobufPrinter } from './protobuf.js';
import { SimplePrinter } from './simple.js';
import { TablePrinter } from './table.js';

export type { Printer, PrinterContext, EpHealth, EpStatus, EpHashKV } from './printer.js';
export { SimplePrinter } from './simple.js';
export { renderTable } from './table.js';

/** etcdctl's NewPrinter: the printer for -w, or exit 4 "unsupported output format". */
export function newPrinter(format: string, ctx: PrinterContext): Printer {
  switch (format) {
    case 'simple':
      return new SimplePrinter(ctx);
    case 'fields':
      return new FieldsPrinter(ctx);
    case 'json':
      return new JsonPrinter(ctx);
    case 'protobuf':
      return new ProtobufPrinter(ctx);
    case 'table':
      return new TablePrinter(ctx);
    default:
      throw new CtlExit(ExitCode.BadFeature, 'unsupported output format');
  }
}
