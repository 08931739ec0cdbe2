// Generates the API types and the typed `graphql()` function (src/gql/) from the gateway's
// schema as checked in (gateway/schema.graphql, which a gateway test holds to the code).
// GRAPHQL_SCHEMA overrides it (a path or a URL, e.g. a running gateway's /graphql/schema).
import { fileURLToPath } from 'node:url';
import type { CodegenConfig } from '@graphql-codegen/cli';

const fromHere = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
const schema = process.env.GRAPHQL_SCHEMA ?? fromHere('../gateway/schema.graphql');

const config: CodegenConfig = {
  schema,
  documents: ['src/**/*.{ts,tsx}', '!src/gql/**/*'],
  ignoreNoDocuments: true,
  generates: {
    'src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        scalars: { UUID: 'string', DateTime: 'string', JSON: 'unknown' },
        strictScalars: true,
        enumsAsTypes: true,
        useTypeImports: true,
        skipTypename: false,
      },
    },
  },
};

export default config;
