import { AdminBudgets } from './admin-budgets';
import { AdminKeys } from './admin-keys';
import { AdminModels } from './admin-models';
import { AdminWebhooks } from './admin-webhooks';

/** ADMIN only (the shell shows a notice to CLIENT keys; the API refuses them anyway). */
export function AdminPage() {
  return (
    <section class="page" aria-labelledby="admin-title">
      <div class="page-head">
        <h1 id="admin-title">Admin</h1>
        <nav class="subnav" aria-label="Admin sections">
          <a href="#keys">API keys</a>
          <a href="#budgets">Budgets</a>
          <a href="#models">Models and prices</a>
          <a href="#webhooks">Webhooks</a>
        </nav>
      </div>
      <AdminKeys />
      <AdminBudgets />
      <AdminModels />
      <AdminWebhooks />
    </section>
  );
}
