/*  test_broker_queue.c -- the intrusive FIFO (broker/queue.h).  */
#include <criterion/criterion.h>

#include "queue.h"

typedef struct {
    int value;
    qnode_t link;
} item_t;

static int
s_value (qnode_t *node)
{
    return QUEUE_ENTRY (node, item_t, link)->value;
}

static void
s_items (item_t *items, int n)
{
    for (int i = 0; i < n; i++) {
        items[i].value = i;
        qnode_init (&items[i].link);
    }
}

Test (queue, fifo_order)
{
    queue_t q;
    queue_init (&q);
    item_t items[5];
    s_items (items, 5);
    cr_assert_null (queue_front (&q));
    cr_assert_null (queue_pop_front (&q));
    for (int i = 0; i < 5; i++)
        queue_push_back (&q, &items[i].link);
    cr_assert_eq (queue_length (&q), 5);
    for (int i = 0; i < 5; i++)
        cr_assert_eq (s_value (queue_pop_front (&q)), i);
    cr_assert_eq (queue_length (&q), 0);
    cr_assert_null (queue_pop_front (&q));
}

Test (queue, push_front_jumps_the_line)
{
    queue_t q;
    queue_init (&q);
    item_t items[3];
    s_items (items, 3);
    queue_push_back (&q, &items[0].link);
    queue_push_back (&q, &items[1].link);
    queue_push_front (&q, &items[2].link);
    cr_assert_eq (s_value (queue_front (&q)), 2);
    cr_assert_eq (s_value (queue_back (&q)), 1);
    int expect[] = { 2, 0, 1 };
    for (int i = 0; i < 3; i++)
        cr_assert_eq (s_value (queue_pop_front (&q)), expect[i]);
}

Test (queue, remove_from_middle_head_and_tail)
{
    queue_t q;
    queue_init (&q);
    item_t items[5];
    s_items (items, 5);
    for (int i = 0; i < 5; i++)
        queue_push_back (&q, &items[i].link);
    queue_remove (&q, &items[2].link);
    cr_assert_not (qnode_linked (&items[2].link));
    queue_remove (&q, &items[0].link);
    queue_remove (&q, &items[4].link);
    cr_assert_eq (queue_length (&q), 2);
    qnode_t *node = queue_front (&q);
    cr_assert_eq (s_value (node), 1);
    node = queue_next (&q, node);
    cr_assert_eq (s_value (node), 3);
    cr_assert_null (queue_next (&q, node));
    /*  A removed node can go into a queue again.                          */
    queue_push_front (&q, &items[2].link);
    cr_assert_eq (s_value (queue_front (&q)), 2);
    cr_assert_eq (queue_length (&q), 3);
}

Test (queue, linked_flag)
{
    queue_t q;
    queue_init (&q);
    item_t item;
    s_items (&item, 1);
    cr_assert_not (qnode_linked (&item.link));
    queue_push_back (&q, &item.link);
    cr_assert (qnode_linked (&item.link));
    cr_assert_eq (queue_pop_front (&q), &item.link);
    cr_assert_not (qnode_linked (&item.link));
}
