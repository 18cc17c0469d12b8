import type { CodegenConfig } from '@graphql-codegen/cli';

// Typed resolvers for the federated schema. `npm run codegen:check` (part of
// `npm test`) fails when src/generated/ is stale.
const config: CodegenConfig = {
  schema: 'schema/*.graphql',
  generates: {
    'src/generated/graphql.ts': {
      plugins: [
        'typescript',
        'typescript-resolvers',
      ],
      config: {
        federation: true,
        useTypeImports: true,
        enumsAsTypes: true,
        avoidOptionals: { field: true, inputValue: false, object: false, defaultValue: false },
        scalars: { DateTime: 'Date' },
        contextType: '../context.js#RequestContext',
        mappers: {
          Customer: '../customers/customer-types.js#CustomerRecord',
          Identifier: '../customers/customer-types.js#IdentifierRecord',
          ConsentState: '../consent/consent-types.js#ConsentStateRecord',
          Consent: '../consent/consent-types.js#ConsentReceipt',
          ContextSnapshot: '../context-snapshots/snapshot-types.js#ContextSnapshotView',
          AuditEvent: '../audit/audit-types.js#AuditEventRecord',
          PiiAccessGrant: '../privacy-requests/grant-types.js#PiiAccessGrantRecord',
          DataSubjectExport: '../privacy-requests/dsar-types.js#DataSubjectExportRecord',
        },
      },
    },
  },
};

export default config;
