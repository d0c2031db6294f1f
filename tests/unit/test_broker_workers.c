/*  test_broker_workers.c -- the worker registry and the model table
    (broker/workers.h, broker/models.h): registration, choice of the most
    free worker, removal, idle models.  */
#include <criterion/criterion.h>
#include <string.h>

#include "models.h"
#include "workers.h"

static models_t *models;
static workers_t *workers;

static void
s_setup (void)
{
    models = models_new ();
    workers = workers_new (models);
    cr_assert (models && workers);
}

static void
s_teardown (void)
{
    /*  The registry wants empty in-flight lists when destroyed.           */
    for (worker_t *w = workers_first (workers); w; w = workers_next (workers, w))
        while (queue_front (&w->in_flight))
            workers_unassign (QUEUE_ENTRY (queue_front (&w->in_flight), request_t, link));
    workers_destroy (&workers);
    models_destroy (&models);
}

static worker_t *
s_register (const char *route, const char *id, const char *model_a, const char *model_b,
            uint32_t slots)
{
    llmq_ready_t ready = { .worker_id = llmq_str (id), .slots = slots };
    ready.models[ready.n_models++] = llmq_str (model_a);
    if (model_b)
        ready.models[ready.n_models++] = llmq_str (model_b);
    worker_t *worker = workers_register (workers, route, strlen (route), &ready, 1000);
    cr_assert_not_null (worker);
    return worker;
}

static model_t *
s_model (const char *name)
{
    return models_lookup (models, name, strlen (name));
}

/*  Fake in-flight requests: only the link and worker fields are used.     */
static request_t fake[16];

static void
s_busy (worker_t *worker, int n)
{
    static int used = 0;
    for (int i = 0; i < n; i++) {
        qnode_init (&fake[used].link);
        workers_assign (workers, worker, &fake[used++]);
    }
}

TestSuite (workers, .init = s_setup, .fini = s_teardown);

Test (workers, register_links_models_and_lookup)
{
    worker_t *w = s_register ("route-a", "wa", "m1", "m2", 4);
    cr_assert_str_eq (w->id, "wa");
    cr_assert_eq (w->n_models, 2);
    cr_assert_eq (workers_lookup (workers, "route-a", 7), w);
    cr_assert_null (workers_lookup (workers, "route-b", 7));
    model_t *m1 = s_model ("m1");
    cr_assert_not_null (m1);
    cr_assert_eq (m1->n_workers, 1);
    cr_assert_eq (m1->workers[0], w);
    cr_assert_eq (workers_count (workers), 1);
    cr_assert_eq (worker_free_slots (w), 4);
}

Test (workers, duplicate_models_in_ready_count_once)
{
    worker_t *w = s_register ("route-a", "wa", "m1", "m1", 1);
    cr_assert_eq (w->n_models, 1);
    cr_assert_eq (s_model ("m1")->n_workers, 1);
}

Test (workers, choose_takes_the_most_free_worker)
{
    worker_t *a = s_register ("ra", "a", "m", NULL, 4);
    worker_t *b = s_register ("rb", "b", "m", NULL, 8);
    worker_t *c = s_register ("rc", "c", "other", NULL, 16);
    model_t *m = s_model ("m");
    cr_assert_eq (workers_choose (workers, m), b, "8 free beats 4 free");
    s_busy (b, 5);                          /* b: 3 free, a: 4 free */
    cr_assert_eq (workers_choose (workers, m), a);
    s_busy (a, 4);                          /* a full */
    cr_assert_eq (workers_choose (workers, m), b);
    s_busy (b, 3);                          /* both full */
    cr_assert_null (workers_choose (workers, m), "no free slot: NULL");
    cr_assert_eq (workers_choose (workers, s_model ("other")), c);
    /*  Unassign one of b's: b has the free slot.                           */
    workers_unassign (&fake[4]);
    cr_assert_eq (workers_choose (workers, m), b);
}

Test (workers, ties_go_to_the_least_recently_used)
{
    worker_t *a = s_register ("ra", "a", "m", NULL, 8);
    worker_t *b = s_register ("rb", "b", "m", NULL, 8);
    model_t *m = s_model ("m");
    worker_t *first = workers_choose (workers, m);
    s_busy (first, 1);
    worker_t *second = workers_choose (workers, m);
    cr_assert_neq (second, first, "the other worker has more free slots");
    s_busy (second, 1);
    /*  Equal again (7 free each): the one used longest ago wins.          */
    cr_assert_eq (workers_choose (workers, m), first);
    (void) a;
    (void) b;
}

Test (workers, draining_workers_get_no_work)
{
    worker_t *a = s_register ("ra", "a", "m", NULL, 8);
    worker_t *b = s_register ("rb", "b", "m", NULL, 2);
    a->draining = true;
    cr_assert_eq (workers_choose (workers, s_model ("m")), b);
    b->draining = true;
    cr_assert_null (workers_choose (workers, s_model ("m")));
}

Test (workers, remove_unlinks_and_models_are_collected)
{
    worker_t *a = s_register ("ra", "a", "m", "only-a", 1);
    worker_t *b = s_register ("rb", "b", "m", NULL, 1);
    workers_remove (workers, a);
    cr_assert (a->dead);
    cr_assert_null (workers_lookup (workers, "ra", 2));
    cr_assert_eq (workers_count (workers), 1);
    cr_assert_eq (workers_first (workers), b, "iteration skips the dead");
    cr_assert_null (workers_next (workers, b));
    /*  The dead worker's models stay valid until the round ends.           */
    cr_assert_str_eq (a->models[1]->name, "only-a");
    cr_assert_eq (a->models[1]->n_workers, 0);
    workers_reap (workers);
    models_collect (models);
    cr_assert_null (s_model ("only-a"), "a model nobody serves or wants goes");
    cr_assert_not_null (s_model ("m"));
    cr_assert_eq (s_model ("m")->n_workers, 1);
    /*  The routing id can register again.                                  */
    worker_t *again = s_register ("ra", "a2", "m", NULL, 1);
    cr_assert_eq (workers_lookup (workers, "ra", 2), again);
}

Test (workers, queued_requests_keep_a_model_alive)
{
    model_t *m = models_get (models, "wanted", 6);
    cr_assert_not_null (m);
    request_t req;
    memset (&req, 0, sizeof req);
    qnode_init (&req.link);
    req.model = m;
    models_enqueue (models, &req, false);
    cr_assert_eq (models_queued (models), 1);
    models_collect (models);
    cr_assert_eq (s_model ("wanted"), m);
    cr_assert_eq (model_front (m), &req);
    models_dequeue (models, &req);
    cr_assert_eq (models_queued (models), 0);
    models_mark_idle (models, m);
    models_collect (models);
    cr_assert_null (s_model ("wanted"));
}

Test (workers, model_names_are_bounded)
{
    cr_assert_null (models_get (models, "", 0));
    char long_name[LLMQ_MAX_NAME + 2];
    memset (long_name, 'x', sizeof long_name);
    cr_assert_null (models_get (models, long_name, LLMQ_MAX_NAME + 1));
    cr_assert_not_null (models_get (models, long_name, LLMQ_MAX_NAME));
}
