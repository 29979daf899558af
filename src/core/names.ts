// Resource names: namespaces and brokers are lowercase RFC 1035 labels (they form DNS-like endpoints).
import { z } from 'zod';

export const resourceNameSchema = z
  .string()
  .regex(
    /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/,
    'a name is a lowercase RFC 1035 label: 1-63 of [a-z0-9-], starting with a letter, not ending with -',
  );
